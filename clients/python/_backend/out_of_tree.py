"""PEP 517 build backend of the optirs package: setuptools' own backend, run
on a copy of the source in a temporary directory.

setuptools writes build/ and optirs.egg-info/ next to the sources it builds;
pip (since 21.3) builds in the source tree itself, so `pip install
clients/python` would leave both in the repository.  Here every hook that
builds (a wheel, an sdist, the wheel's metadata, or asks for the build
requirements, which runs egg_info) runs in a throw-away copy instead, and the
source tree stays as it was.  The result is setuptools' own: the same wheel,
the same metadata.

Invariants: the copy holds every file of the source but earlier build debris
(build/, *.egg-info, __pycache__); the directories the frontend passes are
made absolute before the working directory changes; the working directory is
restored whatever happens.  Editable installs point at the source itself, so
their hooks are setuptools' unchanged (they leave optirs.egg-info, as
setuptools does).
"""
import functools
import os
import shutil
import tempfile

from setuptools import build_meta as _setuptools

_DEBRIS = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")


def _in_a_copy(hook):
    @functools.wraps(hook)
    def run(*args, **kwargs):
        # The first argument of the build hooks is an output directory.
        if args and isinstance(args[0], str):
            args = (os.path.abspath(args[0]),) + args[1:]
        if isinstance(kwargs.get("metadata_directory"), str):
            kwargs["metadata_directory"] = os.path.abspath(kwargs["metadata_directory"])
        source = os.getcwd()
        with tempfile.TemporaryDirectory(prefix="optirs-build-") as tmp:
            copy = os.path.join(tmp, "src")
            shutil.copytree(source, copy, ignore=_DEBRIS)
            os.chdir(copy)
            try:
                return hook(*args, **kwargs)
            finally:
                os.chdir(source)
    return run


get_requires_for_build_wheel = _in_a_copy(_setuptools.get_requires_for_build_wheel)
get_requires_for_build_sdist = _in_a_copy(_setuptools.get_requires_for_build_sdist)
prepare_metadata_for_build_wheel = _in_a_copy(_setuptools.prepare_metadata_for_build_wheel)
build_wheel = _in_a_copy(_setuptools.build_wheel)
build_sdist = _in_a_copy(_setuptools.build_sdist)

get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
build_editable = _setuptools.build_editable
