"""The course content: typed model (``model``), loader with validation (``loader``), ``coursebot check``."""
