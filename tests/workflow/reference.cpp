// The two-round schedule of tests/workflow/workflow_test.py run through the library with the
// simulated oracle: LaborRun's stages in order on one trainer, round 1 PPL, round 2 SPL, the
// answers read from the pool's label maps. Prints the final mIoU as `labor eval` does.
//
//   labor_workflow_reference RUN LABELED_POOL_SPEC PPL_POINTS SPL_CAP
//
// RUN is a folder made by `labor init` (its run.json gives the data, model and preset).

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "../../examples/labor/workflow.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: labor_workflow_reference RUN LABELED_POOL_SPEC PPL_POINTS SPL_CAP\n");
    return 2;
  }
  try {
    using namespace labor_cli;
    const fs::path dir = argv[1];
    const RunConfig rc = RunConfig::read(dir);
    const auto cfg = rc.experiment();
    const std::int64_t points = std::atoll(argv[3]);
    const double cap = std::atof(argv[4]);
    return labor_train::with_backbone<labor::cpu>(cfg, [&]<class B, class Make>(std::type_identity<B>, Make make) {
      Progress progress(true);
      typename Workflow<B>::Run run(dir, run_options(rc, cfg, progress));
      auto trainer = labor_train::make_trainer<B>(cfg, make, rc.num_classes);
      const auto source = open_data(rc, "source", rc.source, true, true);
      const auto pool = open_data(rc, "target", argv[2], true);
      const auto test = open_data(rc, "target test", rc.target_test, true);
      labor::annotate::SimulatedOracle oracle([&](std::int64_t id) { return pool.label(id); },
                                              static_cast<std::int32_t>(rc.num_classes));
      run.source_only(trainer, source, pool);
      run.uda(trainer, source, pool);
      auto sel1 = run.selector(1, trainer, pool);
      (void)run.query(1, trainer, sel1, pool, labor::samplers::PplSampler{points},
                      {{"points", points}, {"min_distance", 0}});
      run.ask(1, oracle);
      run.adapt(1, trainer, source, pool);
      auto sel2 = run.selector(2, trainer, pool);
      labor::samplers::SplSampler spl;
      spl.cap = cap;
      (void)run.query(2, trainer, sel2, pool, spl, {{"cap", cap}});
      run.ask(2, oracle);
      run.adapt(2, trainer, source, pool);
      std::printf("mIoU %.10f\n", 100.0 * trainer.evaluate(test).miou());
      return 0;
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "labor_workflow_reference: error: %s\n", e.what());
    return 1;
  }
}
