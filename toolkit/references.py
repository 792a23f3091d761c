"""The papers ``ast`` follows, as BibTeX, cited from docstrings by their constant.

A docstring cites a paper as ``[Carvalho & Widmer 2021]`` and links its
constant here (:data:`CARVALHO2021`); :data:`CITATIONS` maps each constant's
name to that short form, and :func:`bibtex` gives the entries for a
bibliography.  The research seeds of the project are :data:`DORFER2016`
(seed 001), :data:`CARVALHO2021` (seed 002) and :data:`MUELLER2019` (seeds 003
and 004, the tutorial that presents :data:`DORFER2018_TISMIR`,
:data:`DORFER2018_IJMIR` and :data:`BALKE2019`).

Examples
--------
>>> CITATIONS["CARVALHO2021"]
'Carvalho & Widmer 2021'
>>> bibtex("CARVALHO2021").splitlines()[0]
'@inproceedings{carvalho2021exploiting,'
"""

from __future__ import annotations

from .errors import UnknownNameError, did_you_mean

__all__ = ["DORFER2016", "DORFER2018_TISMIR", "DORFER2018_IJMIR", "BALKE2019", "CARVALHO2021",
           "MUELLER2019", "MUELLER2015", "WANG2003", "KIROS2014", "ANDREW2013", "OORD2018",
           "CARVALHO2023", "CONNEAU2018", "CITATIONS", "bibtex"]

#: Audio–sheet snippet retrieval with DCCA on monophonic tunes: the ``dcca``
#: encoder and objective, its 136-bin spectrogram (seed 001).
DORFER2016 = """@inproceedings{dorfer2016towards,
  author    = {Matthias Dorfer and Andreas Arzt and Gerhard Widmer},
  title     = {Towards End-to-End Audio-Sheet-Music Retrieval},
  booktitle = {NIPS 2016 Workshop on End-to-End Learning for Speech and Audio Processing},
  year      = {2016},
  eprint    = {1612.05070},
  archivePrefix = {arXiv}
}"""

#: MSMD, the ``cnn`` encoder, snippet retrieval and vote-based piece identification.
DORFER2018_TISMIR = """@article{dorfer2018learning,
  author  = {Matthias Dorfer and Jan Haji{\\v{c}} jr. and Andreas Arzt and Harald Frostel and Gerhard Widmer},
  title   = {Learning Audio--Sheet Music Correspondences for Cross-Modal Retrieval and Piece Identification},
  journal = {Transactions of the International Society for Music Information Retrieval},
  volume  = {1},
  number  = {1},
  pages   = {22--33},
  year    = {2018},
  doi     = {10.5334/tismir.12}
}"""

#: The CCA layer trained through a pairwise ranking loss (``cca`` objective).
DORFER2018_IJMIR = """@article{dorfer2018endtoend,
  author  = {Matthias Dorfer and Jan Schl{\\"u}ter and Andreu Vall and Filip Korzeniowski and Gerhard Widmer},
  title   = {End-to-End Cross-Modality Retrieval with {CCA} Projections and Pairwise Ranking Loss},
  journal = {International Journal of Multimedia Information Retrieval},
  volume  = {7},
  number  = {2},
  pages   = {117--128},
  year    = {2018},
  doi     = {10.1007/s13735-018-0151-5}
}"""

#: Soft attention over the audio excerpt for tempo invariance (``attention`` encoder).
BALKE2019 = """@inproceedings{balke2019learning,
  author    = {Stefan Balke and Matthias Dorfer and Lu{\\'i}s Carvalho and Andreas Arzt and Gerhard Widmer},
  title     = {Learning Soft-Attention Models for Tempo-Invariant Audio-Sheet Music Retrieval},
  booktitle = {Proceedings of the 20th International Society for Music Information Retrieval Conference (ISMIR)},
  address   = {Delft, The Netherlands},
  pages     = {216--222},
  year      = {2019}
}"""

#: Piece identification by aligning embedding sequences: the ``dtw``, ``sdtw``,
#: ``shazam`` and ``vote`` matchers, Tables I and II and Fig. 3 (seed 002).
CARVALHO2021 = """@inproceedings{carvalho2021exploiting,
  author    = {Lu{\\'i}s Carvalho and Gerhard Widmer},
  title     = {Exploiting Temporal Dependencies for Cross-modal Music Piece Identification},
  booktitle = {Proceedings of the 29th European Signal Processing Conference (EUSIPCO)},
  year      = {2021}
}"""

#: The tutorial on cross-modal music retrieval (Part I: classical approaches;
#: Part III: machine-learning approaches) (seeds 003 and 004).
MUELLER2019 = """@misc{mueller2019crossmodal,
  author       = {Meinard M{\\"u}ller and Andreas Arzt and Stefan Balke},
  title        = {Cross-Modal Music Retrieval and Applications},
  howpublished = {Tutorial slides, Parts I and III},
  year         = {2019}
}"""

#: Dynamic time warping, subsequence DTW and audio matching; the slope-limited
#: step set (1, 1), (2, 1), (1, 2).
MUELLER2015 = """@book{mueller2015fundamentals,
  author    = {Meinard M{\\"u}ller},
  title     = {Fundamentals of Music Processing},
  publisher = {Springer},
  year      = {2015},
  doi       = {10.1007/978-3-319-21945-5}
}"""

#: Landmark fingerprinting (the ``shazam`` matcher).
WANG2003 = """@inproceedings{wang2003industrial,
  author    = {Avery Li-Chun Wang},
  title     = {An Industrial-Strength Audio Search Algorithm},
  booktitle = {Proceedings of the 4th International Conference on Music Information Retrieval (ISMIR)},
  address   = {Baltimore, Maryland, USA},
  pages     = {7--13},
  year      = {2003}
}"""

#: The pairwise ranking loss (``ranking`` objective).
KIROS2014 = """@article{kiros2014unifying,
  author  = {Ryan Kiros and Ruslan Salakhutdinov and Richard S. Zemel},
  title   = {Unifying Visual-Semantic Embeddings with Multimodal Neural Language Models},
  journal = {arXiv preprint arXiv:1411.2539},
  year    = {2014}
}"""

#: Deep canonical correlation analysis (the ``dcca`` objective's trace norm).
ANDREW2013 = """@inproceedings{andrew2013deep,
  author    = {Galen Andrew and Raman Arora and Jeff Bilmes and Karen Livescu},
  title     = {Deep Canonical Correlation Analysis},
  booktitle = {Proceedings of the 30th International Conference on Machine Learning (ICML)},
  pages     = {1247--1255},
  year      = {2013}
}"""

#: InfoNCE (the ``infonce`` objective).
OORD2018 = """@article{oord2018representation,
  author  = {Aaron van den Oord and Yazhe Li and Oriol Vinyals},
  title   = {Representation Learning with Contrastive Predictive Coding},
  journal = {arXiv preprint arXiv:1807.03748},
  year    = {2018}
}"""

#: Self-supervised pre-training of the ``cnn`` pathways, then MSMD training with
#: a CCA layer: the published weights ``ast model import --format ucasr`` reads.
CARVALHO2023 = """@inproceedings{carvalho2023selfsupervised,
  author    = {Lu{\\'i}s Carvalho and Tobias Wash{\\"u}ttl and Gerhard Widmer},
  title     = {Self-Supervised Contrastive Learning for Robust Audio--Sheet Music
               Retrieval Systems},
  booktitle = {Proceedings of the 14th ACM Multimedia Systems Conference (MMSys)},
  year      = {2023}
}"""

#: Cross-domain similarity local scaling (CSLS), the hubness reduction of
#: ``--hubness csls`` (:mod:`ast_toolkit.search.hubness`).
CONNEAU2018 = """@inproceedings{conneau2018word,
  author    = {Alexis Conneau and Guillaume Lample and Marc'Aurelio Ranzato and Ludovic Denoyer
               and Herv{\\'e} J{\\'e}gou},
  title     = {Word Translation Without Parallel Data},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2018}
}"""

#: Constant name -> the short form docstrings cite.
CITATIONS: dict[str, str] = {
    "DORFER2016": "Dorfer et al. 2016",
    "DORFER2018_TISMIR": "Dorfer et al. 2018a",
    "DORFER2018_IJMIR": "Dorfer et al. 2018b",
    "BALKE2019": "Balke et al. 2019",
    "CARVALHO2021": "Carvalho & Widmer 2021",
    "MUELLER2019": "Müller et al. 2019",
    "MUELLER2015": "Müller 2015",
    "WANG2003": "Wang 2003",
    "KIROS2014": "Kiros et al. 2014",
    "ANDREW2013": "Andrew et al. 2013",
    "OORD2018": "Oord et al. 2018",
    "CARVALHO2023": "Carvalho et al. 2023",
    "CONNEAU2018": "Conneau et al. 2018",
}


def bibtex(*names: str) -> str:
    """The BibTeX entries of the constants ``names`` (every one when none is given).

    Examples
    --------
    >>> print(bibtex("WANG2003").splitlines()[0])
    @inproceedings{wang2003industrial,
    >>> bibtex("KIROS2014", "OORD2018").count("@article{")
    2
    >>> bibtex().count("@") == len(CITATIONS)  # every entry
    True
    >>> bibtex("MULLER2019")
    Traceback (most recent call last):
    ...
    ast_toolkit.errors.UnknownNameError: unknown reference 'MULLER2019'; did you mean 'MUELLER2019' or 'MUELLER2015' or 'BALKE2019'? Known: ANDREW2013, BALKE2019, CARVALHO2021, CARVALHO2023, CONNEAU2018, DORFER2016, DORFER2018_IJMIR, DORFER2018_TISMIR, KIROS2014, MUELLER2015, MUELLER2019, OORD2018, WANG2003
    """
    for name in names:
        if name not in CITATIONS:
            raise UnknownNameError(did_you_mean(name, CITATIONS, what="reference"))
    return "\n\n".join(globals()[n] for n in (names or CITATIONS))
