"""Helpers for tests of workdirs: snapshots and damaged checkpoints."""

import hashlib
import os
import shutil


def snapshot(workdir: str, skip: tuple[str, ...] = ()) -> dict[str, str]:
  """`{relative path: sha256}` of every file under `workdir`, but `skip`."""
  out = {}
  for root, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, workdir)
      if rel.split(os.sep)[0] in skip:
        continue
      with open(path, 'rb') as f:
        out[rel] = hashlib.sha256(f.read()).hexdigest()
  return out


DAMAGE = ('truncated_file', 'deleted_default', 'missing_manifest')


def damage(workdir: str, step: int, how: str) -> None:
  """Makes checkpoint `step` unreadable in one of the `DAMAGE` ways."""
  default = os.path.join(workdir, 'checkpoints', str(step), 'default')
  if how == 'deleted_default':
    shutil.rmtree(default)
  elif how == 'missing_manifest':
    os.remove(os.path.join(default, 'manifest.ocdbt'))
  elif how == 'truncated_file':
    sizes = []
    for root, _, files in os.walk(default):
      for name in files:
        path = os.path.join(root, name)
        sizes.append((os.path.getsize(path), path))
    size, path = max(sizes)  # the largest array file.
    with open(path, 'r+b') as f:
      f.truncate(size // 2)
  else:
    raise ValueError(how)
