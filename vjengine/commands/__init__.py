"""The command-line commands that are more than a flag: they load a model, work, print and write pictures.

`directions` (the directions table and preview strips) and `project` (embedding a photo). The maths they
run lives in `vjengine.latent`; what they draw and write lives here (`pictures`).
"""
