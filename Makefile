# Two entry points for a fresh machine; both install what they need first.
.PHONY: demo test test-slow setup

setup:
	bash scripts/setup.sh

demo:
	bash scripts/setup.sh && .venv/bin/semcom demo

test:
	bash scripts/setup.sh --dev && .venv/bin/ruff check . && .venv/bin/python -m pytest -m "not slow" -q

test-slow:
	bash scripts/setup.sh --dev && .venv/bin/python -m pytest -m slow -q
