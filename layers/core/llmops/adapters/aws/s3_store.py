"""Documents read from S3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import DocumentNotFound
from llmops.domain.models import DocumentRef
from llmops.domain.tags import METADATA_KEY, parse_tags
from llmops.ports import CurrentVersion, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}


def _version_args(ref: DocumentRef) -> dict[str, Any]:
    return {"VersionId": ref.version_id} if ref.version_id else {}


class S3ObjectStore:
    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    def head_size(self, ref: DocumentRef) -> int:
        try:
            return int(self._s3.head_object(Bucket=ref.bucket, Key=ref.key, **_version_args(ref))["ContentLength"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                raise DocumentNotFound(f"s3://{ref.bucket}/{ref.key} does not exist") from error
            raise

    def current_version(self, bucket: str, key: str) -> CurrentVersion | None:
        try:
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        version_id = head.get("VersionId")
        return CurrentVersion(
            version_id=version_id if version_id not in (None, "", "null") else None,
            etag=(head.get("ETag") or "").strip('"') or None,
            size=int(head["ContentLength"]),
        )

    def get(self, ref: DocumentRef) -> StoredObject:
        try:
            response = self._s3.get_object(Bucket=ref.bucket, Key=ref.key, **_version_args(ref))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                raise DocumentNotFound(f"s3://{ref.bucket}/{ref.key} does not exist") from error
            raise
        return StoredObject(
            body=response["Body"].read(),
            content_type=response.get("ContentType"),
            version_id=response.get("VersionId"),
            etag=(response.get("ETag") or "").strip('"') or None,
            # User metadata (x-amz-meta-tags), not object tagging: it cannot change without a new version.
            tags=parse_tags(response.get("Metadata", {}).get(METADATA_KEY)),
        )
