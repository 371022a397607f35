"""The training layer: the search over model families, ensembles, column impact and previews."""
