"""socketify-core: metadata lives in pyproject.toml; this file adds the cffi build."""

from setuptools import find_packages, setup

setup(
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={"socketify": ["py.typed"]},
    cffi_modules=["build_native.py:ffibuilder"],
)
