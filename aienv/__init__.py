"""aienv: one typed stack spec becomes a complete, policy-gated AI environment on AWS, Azure or GCP."""

__version__ = "0.1.0"
