"""Who is calling, and every key the hub holds.

- :mod:`~exchange.security.clientauth`: case systems authenticate (``private_key_jwt``) and
  present hub access tokens;
- :mod:`~exchange.security.identity`: staff and citizens sign in through identity providers;
- :mod:`~exchange.security.keys`: the hub's signing keys (JWKS, rotation);
- :mod:`~exchange.security.custody`: the master secret split among custodians (Shamir);
- :mod:`~exchange.security.secrets`: the key schedule, every key derived from the master secret;
- :mod:`~exchange.security.subjects`: a resident ID checked and turned into its pseudonym.
"""
