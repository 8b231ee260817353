"""Faithful stand-ins for the outside systems leadbot talks to (Slack, HubSpot, Salesforce),
served over real HTTP(S) on a loopback port: shared by the sandbox, the tests and the benchmarks."""
