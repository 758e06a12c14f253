"""Who the caller is and what their tenant's config says."""
