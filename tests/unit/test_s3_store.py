"""S3ObjectStore against moto: what a versioned bucket's key holds after each kind of deletion."""

from __future__ import annotations

import boto3
from moto import mock_aws

from llmops.adapters.aws.s3_store import S3ObjectStore

BUCKET, KEY = "documents", "documents/a.txt"


def test_the_current_version_follows_deletions_of_versions_and_a_delete_marker_hides_the_key() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"first")["VersionId"]
        second = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"second!")["VersionId"]
        store = S3ObjectStore(s3)

        latest = store.current_version(BUCKET, KEY)
        s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=second)  # the current version, for good
        after_permanent_delete = store.current_version(BUCKET, KEY)
        s3.delete_object(Bucket=BUCKET, Key=KEY)  # a delete marker on top
        after_marker = store.current_version(BUCKET, KEY)
        never = store.current_version(BUCKET, "documents/never.txt")

    assert latest is not None and (latest.version_id, latest.size) == (second, 7)
    assert after_permanent_delete is not None and (after_permanent_delete.version_id, after_permanent_delete.size) == (
        first,
        5,
    )
    assert after_marker is None and never is None
