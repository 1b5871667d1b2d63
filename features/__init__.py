"""Pure feature computation: DataFrame in, DataFrame out (declarations: ``schemas.features``)."""
