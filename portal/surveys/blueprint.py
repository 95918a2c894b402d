"""The surveys room's one blueprint; its views live in the *_views modules."""

from flask import Blueprint

bp = Blueprint("surveys", __name__)
