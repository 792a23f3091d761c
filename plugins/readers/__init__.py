"""Page readers (``ast.readers``): ``classical`` finds staves and systems with the standard OMR steps."""
