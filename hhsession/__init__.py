"""hhsession: start HoneyHive sessions from a shell, a CI pipeline or a script.

The library is usable without the CLI::

    from hhsession.payload import build_session, Overrides
    from hhsession.client import SessionsClient

    built = build_session(overrides=Overrides(fields={"session_name": "nightly-eval"}))
    client = SessionsClient(api_url="http://127.0.0.1:8787", api_key="emulator")
    event = client.start_session(built.payload).event
"""

__version__ = "0.1.0"
