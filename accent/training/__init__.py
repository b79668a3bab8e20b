"""Training: recipes (:mod:`.config`), what is trained on (:mod:`.tasks`), the one loop
(:mod:`.loop`), the run-directory writer (:mod:`.rundir`) and ``accent pretrain`` (:mod:`.pretrain`)."""
