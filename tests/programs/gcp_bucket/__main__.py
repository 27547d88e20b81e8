"""A GCS bucket without uniform bucket-level access or public access prevention."""

import pulumi
import pulumi_gcp as gcp

bucket = gcp.storage.Bucket("data", location="EU", force_destroy=True)

pulumi.export("bucket_url", bucket.url)
