from logflume.analysis.commands import main

raise SystemExit(main())
