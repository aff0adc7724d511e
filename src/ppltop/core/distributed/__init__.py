"""Ranks of mlx.launch: a scorer that shards each batch over the ranks."""
