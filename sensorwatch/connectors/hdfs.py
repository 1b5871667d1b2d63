"""Python-side HDFS access over WebHDFS (Spark itself uses hdfs://)."""

from __future__ import annotations

from urllib.parse import urlparse

from hdfs import InsecureClient

from sensorwatch.config import Settings


def webhdfs_client(settings: Settings) -> InsecureClient:
    return InsecureClient(settings.storage.webhdfs_url, user=settings.storage.user, timeout=30)


def hdfs_path(uri: str) -> str:
    """The path part of ``hdfs://host:port/a/b`` (what WebHDFS calls take)."""
    return urlparse(uri).path or "/"
