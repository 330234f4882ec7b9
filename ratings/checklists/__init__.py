"""Key-term checklist studies: one image at a time, yes / no / can't tell per item.

A checklist study's items for an image are each key term of the image's prompt and each field
of the researcher's schema (a prompt attribute with its allowed values); see items.py.
"""
