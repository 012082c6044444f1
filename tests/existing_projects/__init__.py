"""Small Lightning projects written the way their users write them, swept as they are
(tests/tuning/run/test_existing_projects.py)."""
