from accent.cli import main

raise SystemExit(main())
