"""The issues stage: a period's stored signals → an Issue → its frozen Editions.

`store` is the only code that touches the issues and editions tables; an `Edition` read back
from it carries its id.
"""
