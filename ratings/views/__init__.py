"""Pages: studies.py for researchers, rate.py for raters, analysis.py for results."""
