"""The ``hk`` command line: the user's front door. It ties the parts together, importing each
(API, pipelines) only inside the command that needs it."""
