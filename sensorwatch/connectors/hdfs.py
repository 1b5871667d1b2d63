"""HDFS from Python: over WebHDFS for the tools (``webhdfs_client``), and through the
Spark session's own Hadoop ``FileSystem`` for the jobs (``HadoopFs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from hdfs import InsecureClient

from sensorwatch.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def webhdfs_client(settings: Settings) -> InsecureClient:
    return InsecureClient(settings.storage.webhdfs_url, user=settings.storage.user, timeout=30)


def hdfs_path(uri: str) -> str:
    """The path part of ``hdfs://host:port/a/b`` (what WebHDFS calls take)."""
    return urlparse(uri).path or "/"


class HadoopFs:
    """Hadoop's own ``FileSystem`` as a Spark session's JVM sees it (py4j): what the
    streaming jobs need atomically and on the cluster's HDFS (rename, glob, delete), with
    the same configuration as Spark's reads and writes. Paths are URIs or absolute paths."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm: Any = spark._jvm
        jsc: Any = spark._jsc
        self._jvm = jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._Path(root).getFileSystem(jsc.hadoopConfiguration())

    def qualified(self, path: str) -> str:
        """``path`` with the default filesystem's scheme and authority filled in: a cluster
        profile's ``hdfs:///data/...`` becomes ``hdfs://namenode:port/data/...``. Spark's
        streaming checkpoint goes through Hadoop's FileContext, which refuses an hdfs URI
        without an authority ("Uri without authority: hdfs:/data/...")."""
        return str(self._fs.makeQualified(self._Path(path)).toString())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._Path(path)))

    def read_text(self, path: str) -> str:
        stream = self._fs.open(self._Path(path))
        try:
            return str(self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        """Create or overwrite ``path`` with ``text``."""
        out = self._fs.create(self._Path(path), True)
        try:
            out.write(bytearray(text.encode()))
        finally:
            out.close()

    def glob(self, pattern: str) -> list[str]:
        return [str(s.getPath().toString()) for s in self._fs.globStatus(self._Path(pattern)) or []]

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._Path(path))

    def rename(self, source: str, target: str) -> bool:
        """Hadoop's atomic rename; False where it was refused (target exists, source gone)."""
        return bool(self._fs.rename(self._Path(source), self._Path(target)))

    def delete(self, path: str, recursive: bool = False) -> None:
        self._fs.delete(self._Path(path), recursive)
