"""HTTP handlers of the accelhub server extension."""
