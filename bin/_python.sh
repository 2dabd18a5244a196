# Sourced by the bin/ scripts: choose the Python that runs pyrmq from this clone.
# The clone's .venv (made by `make run` / `make test`) if present, else python3 with the
# clone on PYTHONPATH (its dependencies must then be installed for that python3).
PYRMQ_HOME=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$PYRMQ_HOME/.venv/bin/python" ]; then
  PYRMQ_PYTHON="$PYRMQ_HOME/.venv/bin/python"
else
  PYRMQ_PYTHON=python3
  PYTHONPATH="$PYRMQ_HOME${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONPATH
fi
export PYRMQ_HOME
