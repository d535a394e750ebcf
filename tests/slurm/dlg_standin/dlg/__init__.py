"""Stand-in for DALiuGE's `dlg` package (beampipe tests only; not DALiuGE code)."""
__version__ = "0.0.0-beampipe-standin"
