"""``polyseg serve``: an HTTP server for the try-it page, the Label Studio ML backend protocol and the CVAT
interactor contract (``polyseg[serve]``).

Only :mod:`polyseg.serve.app` and :mod:`polyseg.serve.cli` need the ``serve`` extra (Starlette, uvicorn);
:mod:`polyseg.serve.requests`, :mod:`polyseg.serve.cvat`, :mod:`polyseg.serve.label_studio` and :mod:`polyseg.serve.page`
(the protocols) need nothing but polyseg itself, so the CVAT nuclio function can use them without a web framework,
and the app is routes and middleware only.
"""
