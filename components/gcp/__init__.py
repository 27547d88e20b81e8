"""The GCP foundation: one ComponentResource per concern, composed by `foundation.GcpFoundation`."""
