"""Stand-in for the wallaby_hires package (beampipe tests only)."""
__version__ = "0.0.0-beampipe-standin"
