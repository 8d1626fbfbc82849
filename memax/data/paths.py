"""Where a dataset is when no path is given: one rule for every reader."""

import os


def default_path(env_var: str, shared_name: str, *, bad_env: str,
                 missing: str) -> str:
  """The variable `env_var` if set, else `../shared/data/<shared_name>`.

  The second is relative to the working directory, if it exists (a
  convenience for working inside the memax checkout; nothing relies on it).

  Args:
    env_var: the environment variable that names the data.
    shared_name: the folder under `../shared/data`.
    bad_env: what to do when `env_var` names nothing (the error's tail).
    missing: the error when neither exists.

  Raises:
    FileNotFoundError: `env_var` names nothing, or neither exists.
  """
  env = os.environ.get(env_var)
  if env:
    if not os.path.exists(env):
      raise FileNotFoundError(f'{env_var}={env!r} does not exist: {bad_env}')
    return env
  local = os.path.join(os.getcwd(), '..', 'shared', 'data', shared_name)
  if os.path.isdir(local):
    return os.path.normpath(local)
  raise FileNotFoundError(missing)
