"""`python -m node_agent serve|start|stop|status --config NODE.yaml`."""
from node_agent.daemon import main

raise SystemExit(main())
