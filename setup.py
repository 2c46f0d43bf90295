from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "sigver" / "__init__.py").read_text(), version)

setup(
    name="sigver",
    version=version["__version__"],
    description="Offline handwritten signature verification: SigNet features, writer-dependent "
                "classifiers, meta-learning, adversarial defences and distillation, in PyTorch",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["sigver", "sigver.*"]),
    package_data={"sigver.serve": ["static/*"]},
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.23",
        "torch>=2.1",
        "scipy>=1.9",
        "scikit-image>=0.20",
        "scikit-learn>=1.2",
        "tqdm",
        "matplotlib>=3.5",
        "pillow>=9",
        # compiled kernels of the pre-processing (bit-identical to the scipy path, 3-4x faster); without it
        # (SIGVER_NO_NUMBA=1, or no wheel for the platform) sigver says so once and uses scipy
        "numba>=0.59",
    ],
    extras_require={
        "visdom": ["visdom"],
        "tensorboard": ["tensorboard"],
        "onnx": ["onnx", "onnxruntime"],
        "notebook": ["notebook", "nbclient", "nbformat", "ipykernel"],
        # numba is now a dependency; the former extra stays so that `pip install sigver[fast]` still works
        "fast": [],
        # per-user evaluation and pre-processing on a Dask cluster (--scheduler; sigver.distributed)
        "dask": ["dask[distributed]>=2023.1"],
        # the verification service (python -m sigver.serve): HTTP API and web page
        "serve": ["fastapi>=0.100", "uvicorn>=0.23", "python-multipart>=0.0.9"],
        # a fast, non-exact SVC for the WD / WI protocols and enrolment (--svm-backend sklearnex; sigver.evaluation.svm)
        "sklearnex": ["scikit-learn-intelex"],
        "test": ["pytest>=7", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["sigver=sigver.__main__:main"]},
    classifiers=[
        "License :: OSI Approved :: BSD License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
