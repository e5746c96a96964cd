"""The escrow domain: pure code shared by workflows, activities and the API."""
