// The Python module `apprentice` (pybind11): the runtime from Python without a line of C++.
//
//   apprentice.Env(name, **options)      a registered environment (reset/step, Gymnasium-style)
//   apprentice.Agent(env=..., planner=..., mode=..., ...)
//                                        an Agent taught by a planner, trained by a LocalLearner,
//                                        acting on the caller's thread (runtime/run.h: HostedAgent)
//   apprentice.Snapshot.load(path)       executor weights: act, act_batch on NumPy arrays
//   apprentice.read_log(path)            an episode log as NumPy arrays, one row per record
//   apprentice.inspect / evaluate_log / rollout / distill
//                                        the offline tools of `apprentice inspect/eval/distill`
//
// NumPy arrays are read in place when they are C-contiguous float32 (anything else is converted
// once, as NumPy would); act() on a Discrete space returns a Python int. The calls that run long
// (distill, rollout, Agent.stop) release the GIL. Errors: ValueError for bad input (a wrong-size
// observation, an unknown option), FileNotFoundError, OSError for I/O, apprentice.EnvFailure
// for an environment that failed, RuntimeError otherwise. docs/python.md documents all of it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/agent.h"
#include "core/json.h"
#include "core/options.h"
#include "env/registry.h"
#include "executor/executor.h"
#include "executor/snapshot_file.h"
#include "planner/registry.h"
#include "replay/episode_log.h"
#include "runtime/offline.h"
#include "runtime/run.h"
#include "runtime/run_store.h"

namespace py = pybind11;
using namespace py::literals;

namespace apprentice {
namespace {

// A float32 C-contiguous view of whatever array-like the caller passed: no copy when it already
// is one.
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Raises the Python exception that fits `status`.
[[noreturn]] void Raise(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: throw py::value_error(status.message());
    case StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, status.message().c_str());
      throw py::error_already_set();
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      PyErr_SetString(PyExc_OSError, status.message().c_str());
      throw py::error_already_set();
    default: throw std::runtime_error(status.message());
  }
}
void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}
template <typename T>
T Value(Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(result).value();
}

py::object FromJson(const Json& json) {
  return py::module_::import("json").attr("loads")(json.Dump(-1));
}

// Keyword options as the registry's text values: True/False as true/false, the rest as str().
OptionValues ToOptions(const py::dict& options) {
  OptionValues values;
  for (const auto& [key, value] : options) {
    std::string text;
    if (py::isinstance<py::bool_>(value)) {
      text = value.cast<bool>() ? "true" : "false";
    } else {
      text = py::str(value).cast<std::string>();
    }
    values.Set(py::str(key).cast<std::string>(), text);
  }
  return values;
}

std::span<const float> View(const FloatArray& array) {
  return {array.data(), static_cast<size_t>(array.size())};
}

py::array_t<float> Copy(std::span<const float> values) {
  return py::array_t<float>(static_cast<py::ssize_t>(values.size()), values.data());
}

// An action for `space` from a Python int or array-like.
Action ToAction(const py::handle& action, const Space& space) {
  if (space.is_discrete()) {
    if (!py::isinstance<py::int_>(action) && !py::hasattr(action, "__index__")) {
      throw py::value_error("a Discrete action is an int, got " +
                            py::str(py::type::of(action)).cast<std::string>());
    }
    return Action::Discrete(py::int_(py::reinterpret_borrow<py::object>(action)).cast<int64_t>());
  }
  const FloatArray values = FloatArray::ensure(action);
  if (!values) throw py::value_error("a Box action is an array of floats");
  if (values.size() > kMaxActionDims) {
    throw py::value_error("the action holds " + std::to_string(values.size()) +
                          " values, more than " + std::to_string(kMaxActionDims));
  }
  return Action::Continuous(View(values));
}

py::object FromAction(const Action& action) {
  if (action.is_discrete()) return py::int_(action.index());
  return Copy(action.values());
}

// ---------------------------------------------------------------------------------------------
// Env
// ---------------------------------------------------------------------------------------------

struct PyEnv {
  std::unique_ptr<Env> env;

  py::array_t<float> Reset(uint64_t seed) { return Copy(env->Reset(seed)); }
  py::tuple Step(const py::handle& action) {
    const StepResult r = env->Step(ToAction(action, env->action_space()));
    return py::make_tuple(Copy(r.observation), r.reward, r.terminated, r.truncated);
  }
};

// ---------------------------------------------------------------------------------------------
// Snapshot: executor weights with an executor of their own
// ---------------------------------------------------------------------------------------------

struct PySnapshot {
  PySnapshot(std::shared_ptr<const Snapshot> s, SnapshotFileInfo i)
      : snapshot(std::move(s)), info(std::move(i)), space(HeadActionSpace(snapshot->spec())),
        slot(snapshot), executor(slot, space) {}

  std::shared_ptr<const Snapshot> snapshot;
  SnapshotFileInfo info;
  Space space;
  SnapshotSlot slot;
  Executor executor;
  std::vector<Action> actions;  // act_batch's scratch

  py::object Act(const FloatArray& observation) {
    return FromAction(executor.Act(View(observation)).action);
  }

  // Greedy actions for the rows of `observations` (n x input). The rows are read in place;
  // `outputs`, when given, must be a C-contiguous float32 (n x spec.output()) array and receives
  // the raw head outputs (logits, or means then log-stds) in place.
  py::array ActBatch(const FloatArray& observations, std::optional<py::array> outputs) {
    const MlpSpec& spec = snapshot->spec();
    if (observations.ndim() != 2 || observations.shape(1) != spec.input) {
      throw py::value_error("observations must be (n, " + std::to_string(spec.input) +
                            "), got " + std::to_string(observations.ndim()) + " dimensions");
    }
    const int64_t n = observations.shape(0);
    std::span<float> out;
    if (outputs) {
      auto typed = py::array_t<float, py::array::c_style>::ensure(*outputs);
      if (!typed || !outputs->writeable() || typed.ptr() != outputs->ptr() || typed.ndim() != 2 ||
          typed.shape(0) != n || typed.shape(1) != spec.output()) {
        throw py::value_error("outputs must be a writable C-contiguous float32 array of shape (" +
                              std::to_string(n) + ", " + std::to_string(spec.output()) + ")");
      }
      out = {typed.mutable_data(), static_cast<size_t>(typed.size())};
    }
    actions.resize(static_cast<size_t>(n));
    executor.ActBatch(View(observations), actions, out);
    if (space.is_discrete()) {
      py::array_t<int64_t> result(n);
      auto r = result.mutable_unchecked<1>();
      for (int64_t i = 0; i < n; ++i) r(i) = actions[static_cast<size_t>(i)].index();
      return result;
    }
    const int64_t d = space.flat_size();
    py::array_t<float> result({n, d});
    float* r = result.mutable_data();
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(r + i * d, actions[static_cast<size_t>(i)].values().data(), sizeof(float) * d);
    }
    return result;
  }
};

std::unique_ptr<PySnapshot> LoadSnapshotFile(const std::string& path) {
  LoadedSnapshot loaded = Value(LoadSnapshot(path));
  return std::make_unique<PySnapshot>(std::move(loaded.snapshot), std::move(loaded.info));
}

// ---------------------------------------------------------------------------------------------
// Agent
// ---------------------------------------------------------------------------------------------

class PyAgent {
 public:
  explicit PyAgent(RunOptions options) {
    if (!options.run_dir.empty()) {
      dir_.emplace(Value(RunDirectory::Open(options.run_dir)));
      const RunIdentity identity = Value(IdentityOf(options));
      Check(options.resume ? dir_->CheckResumable(identity) : dir_->WriteIdentity(identity));
    }
    hosted_ = std::make_unique<HostedAgent>(options);
    discrete_ = hosted_->prototype().action_space().is_discrete();
    hosted_->agent().Start();
  }
  ~PyAgent() {
    if (hosted_) (void)hosted_->agent().Stop();
  }

  py::object Act(const FloatArray& observation, PyEnv* env) {
    const AgentDecision d = Decision(observation, env);
    if (discrete_) return py::int_(d.action.index());
    return Copy(d.action.values());
  }

  py::dict Decide(const FloatArray& observation, PyEnv* env) {
    const AgentDecision d = Decision(observation, env);
    return py::dict("action"_a = FromAction(d.action), "id"_a = d.id,
                    "by"_a = d.acted_by == Actor::kPlanner ? "planner" : "executor",
                    "confidence"_a = d.confidence, "version"_a = d.executor_version,
                    "episode"_a = d.episode, "step"_a = d.step,
                    "latency_us"_a = static_cast<double>(d.latency_ns) / 1e3,
                    "deadline_missed"_a = d.deadline_missed);
  }

  void Observe(double reward, bool terminated, bool truncated) {
    Running().Observe(reward, terminated, truncated);
  }

  py::object Metrics() { return FromJson(hosted_->agent().Metrics().ToJson()); }

  std::unique_ptr<PySnapshot> Snap() {
    return std::make_unique<PySnapshot>(hosted_->agent().snapshot_slot().Current(),
                                        SnapshotFileInfo{});
  }

  // Drains, joins, flushes the log, saves the learner's files. Raises what went wrong.
  void Stop() {
    Status s;
    {
      py::gil_scoped_release release;
      s = hosted_->agent().Stop();
    }
    stopped_ = true;
    Check(s);
  }

  bool stopped() const { return stopped_; }
  const RunOptions& options() const { return hosted_->options(); }

 private:
  Agent& Running() {
    if (stopped_) throw std::runtime_error("the agent is stopped");
    return hosted_->agent();
  }
  // The default arbiter's decision, with the env's legal-move mask when it has one.
  AgentDecision Decision(const FloatArray& observation, PyEnv* env) {
    Agent& agent = Running();
    const Env* state = env != nullptr ? env->env.get() : nullptr;
    std::span<const uint8_t> legal;
    if (state != nullptr) legal = LegalMask(*state, legal_);
    return agent.Act(View(observation), state, legal);
  }

  std::optional<RunDirectory> dir_;  // held (locked) while the agent writes it
  std::unique_ptr<HostedAgent> hosted_;
  bool discrete_ = true;
  bool stopped_ = false;
  std::vector<uint8_t> legal_;
};

// Agent(...): the keyword arguments as RunOptions, checked, then the agent, started.
std::unique_ptr<PyAgent> NewAgent(const std::string& env,
                                  const std::optional<std::string>& planner,
                                  const std::string& mode, uint64_t seed,
                                  const std::optional<std::string>& run_dir, bool resume,
                                  const py::dict& env_options, const py::dict& planner_options,
                                  const std::vector<int64_t>& hidden, int64_t deadline_us,
                                  int64_t planner_threads, int64_t planner_queue,
                                  int64_t min_replay, double updates_per_step,
                                  int64_t metrics_interval_ms, double planner_delay_ms) {
  RunOptions o;
  o.env = env;
  o.env_options = ToOptions(env_options);
  if (planner) {
    o.planner = *planner;
  } else {
    o.planner = DefaultPlannerFor(Value(MakeEnv(o.env, o.env_options))->action_space());
  }
  o.planner_options = ToOptions(planner_options);
  o.mode = mode;
  o.seed = seed;
  o.distiller.hidden = hidden;
  o.agent.deadline_us = deadline_us;
  o.agent.planner_threads = planner_threads;
  o.agent.planner_queue = planner_queue;
  o.agent.metrics_interval_ms = metrics_interval_ms;
  o.min_replay = min_replay;
  o.updates_per_step = updates_per_step;
  o.planner_delay_ms = planner_delay_ms;
  if (run_dir) {
    o.run_dir = *run_dir;
    o.resume = resume;
  } else if (resume) {
    throw py::value_error("resume=True needs run_dir");
  }
  if (o.mode == "sync") {
    throw py::value_error("an Agent runs the agent modes (reflex, deadline, gated, planner, "
                          "dagger); sync is `apprentice run`'s single-thread mode");
  }
  Check(CheckRunnable(o));
  return std::make_unique<PyAgent>(std::move(o));
}

// ---------------------------------------------------------------------------------------------
// Episode logs as NumPy arrays
// ---------------------------------------------------------------------------------------------

py::dict ReadLog(const std::string& path) {
  EpisodeLogReader reader = Value(EpisodeLogReader::Open(path));
  std::vector<DecisionRecord> records;
  {
    DecisionRecord record;
    while (Value(reader.Next(record))) records.push_back(record);
  }
  const auto n = static_cast<py::ssize_t>(records.size());
  // Widths from the first record; every record of one log has the same.
  const py::ssize_t obs =
      records.empty() ? 0 : static_cast<py::ssize_t>(records[0].observation.size());
  const bool discrete = records.empty() || TakenAction(records[0]).is_discrete();
  const py::ssize_t act =
      discrete ? 1 : static_cast<py::ssize_t>(TakenAction(records[0]).values().size());
  py::ssize_t classes = 0;
  for (const DecisionRecord& r : records) {
    if (r.has_label && r.planner.kind == PolicyKind::kCategorical) {
      classes = static_cast<py::ssize_t>(r.planner.logits.size());
      break;
    }
  }

  py::array_t<uint64_t> decision_id(n);
  py::array_t<int64_t> episode(n), step(n), executor_version(n);
  py::array_t<float> observation({n, obs}), reward(n), planner_value(n);
  py::array_t<bool> terminated(n), truncated(n), by_planner(n), has_label(n);
  auto action_column = [&] {
    return discrete ? py::array(py::array_t<int64_t>(n)) : py::array(py::array_t<float>({n, act}));
  };
  py::array action = action_column(), executor_action = action_column(),
            planner_action = action_column();
  py::array_t<float> planner_probs({n, classes});
  auto put_action = [&](py::array& column, py::ssize_t i, const Action& a, bool valid) {
    if (discrete) {
      static_cast<int64_t*>(column.mutable_data())[i] = valid ? a.index() : -1;
    } else {
      float* row = static_cast<float*>(column.mutable_data()) + i * act;
      for (py::ssize_t j = 0; j < act; ++j) {
        row[j] = valid && static_cast<size_t>(j) < a.values().size() ? a.values()[j]
                                                                     : std::nanf("");
      }
    }
  };
  for (py::ssize_t i = 0; i < n; ++i) {
    const DecisionRecord& r = records[static_cast<size_t>(i)];
    if (static_cast<py::ssize_t>(r.observation.size()) != obs ||
        (!discrete && static_cast<py::ssize_t>(TakenAction(r).values().size()) != act) ||
        TakenAction(r).is_discrete() != discrete) {
      throw py::value_error(path + ": record " + std::to_string(r.decision_id) +
                            " has another observation or action size than the first record");
    }
    decision_id.mutable_at(i) = r.decision_id;
    episode.mutable_at(i) = r.episode;
    step.mutable_at(i) = r.step;
    executor_version.mutable_at(i) = r.executor_version;
    std::copy(r.observation.begin(), r.observation.end(), observation.mutable_data(i, 0));
    reward.mutable_at(i) = r.reward;
    terminated.mutable_at(i) = r.terminated;
    truncated.mutable_at(i) = r.truncated;
    by_planner.mutable_at(i) = r.acted_by == Actor::kPlanner;
    has_label.mutable_at(i) = r.has_label;
    planner_value.mutable_at(i) = r.has_label ? r.planner_value : std::nanf("");
    put_action(action, i, TakenAction(r), true);
    put_action(executor_action, i, r.executor_action, true);
    put_action(planner_action, i, r.planner_action, r.has_label);
    const bool probs = r.has_label && r.planner.kind == PolicyKind::kCategorical &&
                       static_cast<py::ssize_t>(r.planner.logits.size()) == classes;
    const std::vector<float> p = probs ? r.planner.Probabilities() : std::vector<float>();
    for (py::ssize_t j = 0; j < classes; ++j) {
      planner_probs.mutable_at(i, j) = probs ? p[static_cast<size_t>(j)] : std::nanf("");
    }
  }
  py::list damage;
  for (const EpisodeLogDamage& d : reader.damage()) {
    damage.append(FromJson(DamageJson({d}))[py::int_(0)]);
  }
  py::list segments;
  for (const EpisodeLogSegment& s : reader.segments()) segments.append(FromJson(SegmentJson(s)));
  return py::dict("decision_id"_a = decision_id, "episode"_a = episode, "step"_a = step,
                  "observation"_a = observation, "action"_a = action, "reward"_a = reward,
                  "terminated"_a = terminated, "truncated"_a = truncated,
                  "by_planner"_a = by_planner, "executor_action"_a = executor_action,
                  "executor_version"_a = executor_version, "has_label"_a = has_label,
                  "planner_action"_a = planner_action, "planner_probs"_a = planner_probs,
                  "planner_value"_a = planner_value, "damage"_a = damage,
                  "segments"_a = segments);
}

py::dict ScoreDict(const PolicyScore& s) {
  return py::dict("decisions"_a = s.decisions, "agreement"_a = s.agreement(),
                  "mean_kl"_a = s.mean_kl(), "action_rmse"_a = s.action_rmse());
}

}  // namespace
}  // namespace apprentice

PYBIND11_MODULE(apprentice, m) {
  using namespace apprentice;
  m.doc() = "apprentice: a slow planner teaches a fast executor while the system runs "
            "(docs/python.md).";
  m.attr("__version__") = APPRENTICE_VERSION;
  static py::exception<EnvFailure> env_failure(m, "EnvFailure", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const EnvFailure& e) {
      env_failure(e.what());
    }
  });

  m.def("env_names", &EnvNames, "The registered environments.");
  m.def("planner_names", &PlannerNames, "The registered planners.");

  py::class_<PyEnv>(m, "Env", "A registered environment with Gymnasium's reset/step.")
      .def(py::init([](const std::string& name, const py::kwargs& options) {
             return PyEnv{Value(MakeEnv(name, ToOptions(options)))};
           }),
           "name"_a, "Env(name, **options): options as `apprentice run --help` lists them.")
      .def("reset", &PyEnv::Reset, "seed"_a = 0, "Starts an episode; returns the observation.")
      .def("step", &PyEnv::Step, "action"_a,
           "Returns (observation, reward, terminated, truncated).")
      .def("clone", [](const PyEnv& e) { return PyEnv{e.env->Clone()}; },
           "An independent copy in the current state.")
      .def_property_readonly("name", [](const PyEnv& e) { return e.env->name(); })
      .def_property_readonly("observation_space",
                             [](const PyEnv& e) { return e.env->observation_space().ToString(); })
      .def_property_readonly("action_space",
                             [](const PyEnv& e) { return e.env->action_space().ToString(); })
      .def_property_readonly("max_episode_steps",
                             [](const PyEnv& e) { return e.env->max_episode_steps(); })
      .def_property_readonly("elapsed_steps",
                             [](const PyEnv& e) { return e.env->elapsed_steps(); });

  py::class_<PySnapshot>(m, "Snapshot", "Executor weights and an executor to act with them.")
      .def_static("load", &LoadSnapshotFile, "path"_a, "Reads a snapshot file (executor.snap).")
      .def("act", &PySnapshot::Act, "observation"_a,
           "The greedy action: an int (Discrete) or a float32 array (Box).")
      .def("act_batch", &PySnapshot::ActBatch, "observations"_a, "outputs"_a = py::none(),
           "Greedy actions for the rows of an (n, input) float32 array, read in place; "
           "`outputs` (n, output) float32 receives the raw head outputs in place.")
      .def("save", [](const PySnapshot& s, const std::string& path) {
             Check(SaveSnapshot(*s.snapshot, s.info, path));
           }, "path"_a)
      .def_property_readonly("version", [](const PySnapshot& s) { return s.snapshot->version(); })
      .def_property_readonly("spec",
                             [](const PySnapshot& s) { return s.snapshot->spec().ToString(); })
      .def_property_readonly("input_size",
                             [](const PySnapshot& s) { return s.snapshot->spec().input; })
      .def_property_readonly("output_size",
                             [](const PySnapshot& s) { return s.snapshot->spec().output(); })
      .def_property_readonly("action_space", [](const PySnapshot& s) { return s.space.ToString(); })
      .def_property_readonly("info", [](const PySnapshot& s) {
        return py::dict("env"_a = s.info.env, "observation_space"_a = s.info.observation_space,
                        "action_space"_a = s.info.action_space, "note"_a = s.info.note);
      });

  py::class_<PyAgent>(m, "Agent",
                      "An Agent: the executor acts on the caller's thread, the planner labels in "
                      "the background, a learner trains and hot-swaps the weights.")
      .def(py::init(&NewAgent),
           "env"_a = "cartpole", "planner"_a = py::none(), "mode"_a = "reflex", "seed"_a = 1,
           "run_dir"_a = py::none(), "resume"_a = false, "env_options"_a = py::dict(),
           "planner_options"_a = py::dict(), "hidden"_a = std::vector<int64_t>{64, 64},
           "deadline_us"_a = 1000, "planner_threads"_a = 1, "planner_queue"_a = 64,
           "min_replay"_a = 128, "updates_per_step"_a = 2.0, "metrics_interval_ms"_a = 1000,
           "planner_delay_ms"_a = 0.0)
      .def("act", &PyAgent::Act, "observation"_a, "env"_a = nullptr,
           "The action for `observation`: an int (Discrete) or a float32 array (Box). Pass the "
           "env (an apprentice.Env) for planners that simulate on it.")
      .def("decide", &PyAgent::Decide, "observation"_a, "env"_a = nullptr,
           "As act(), with the decision's id, who acted, confidence, version, episode, step, "
           "latency.")
      .def("observe", &PyAgent::Observe, "reward"_a, "terminated"_a = false,
           "truncated"_a = false, "The outcome of the last action.")
      .def("metrics", &PyAgent::Metrics, "Counters and latencies (the metrics.jsonl keys).")
      .def("snapshot", &PyAgent::Snap, "The executor's current weights.")
      .def("stop", &PyAgent::Stop, "Drains, joins, flushes the log; raises what went wrong.")
      .def_property_readonly("stopped", &PyAgent::stopped)
      .def_property_readonly("run_dir", [](const PyAgent& a) { return a.options().run_dir; })
      .def_property_readonly("planner", [](const PyAgent& a) { return a.options().planner; })
      .def("__enter__", [](PyAgent& a) -> PyAgent& { return a; })
      .def("__exit__", [](PyAgent& a, const py::args&) {
        if (!a.stopped()) a.Stop();
      });

  m.def("read_log", &ReadLog, "path"_a,
        "An episode log (a segment or a directory) as a dict of NumPy arrays, one row per intact "
        "record, plus its segments and damaged stretches.");
  m.def("inspect", [](const std::string& path) {
    return FromJson(Value(InspectEpisodeLog(path)).ToJson());
  }, "path"_a, "What `apprentice inspect --json` prints.");
  m.def("evaluate_log", [](const std::string& path, const PySnapshot& snapshot) {
    const LogEvaluation e = Value(EvaluateOnLog(path, snapshot.snapshot));
    return py::dict("records"_a = e.records, "overall"_a = ScoreDict(e.overall),
                    "episodes"_a = e.episodes.size(), "damaged"_a = e.damage.size());
  }, "path"_a, "snapshot"_a, "The snapshot scored against the planner's labels in a log.");
  m.def("rollout", [](const PySnapshot& snapshot, const std::string& env, int64_t episodes,
                      uint64_t seed, const py::dict& env_options) {
    const OptionValues options = ToOptions(env_options);
    Result<RolloutResult> r = Status::Internal("not run");
    {
      py::gil_scoped_release release;
      r = Rollout(snapshot.snapshot, env, episodes, seed, options);
    }
    return FromJson(Value(std::move(r)).ToJson());
  }, "snapshot"_a, "env"_a, "episodes"_a = 10, "seed"_a = 1, "env_options"_a = py::dict(),
     "Episodes of `env` with the snapshot acting alone (what `apprentice eval` runs).");
  m.def("distill", [](const std::string& log, const std::vector<int64_t>& hidden, int64_t epochs,
                      int64_t updates, double holdout, uint64_t seed) {
    OfflineDistillOptions o;
    o.distiller.hidden = hidden;
    o.epochs = epochs;
    o.updates = updates;
    o.holdout = holdout;
    o.seed = seed;
    Check(o.Validate());
    Result<OfflineDistillResult> r = Status::Internal("not run");
    {
      py::gil_scoped_release release;
      Result<LabelledLog> labelled = ReadLabelledLog(log);
      r = labelled.ok() ? DistillOffline(*labelled, o)
                        : Result<OfflineDistillResult>(labelled.status());
    }
    OfflineDistillResult result = Value(std::move(r));
    auto snapshot = std::make_unique<PySnapshot>(result.snapshot, SnapshotFileInfo{});
    py::dict report("updates"_a = result.updates, "final_loss"_a = result.final_loss,
                    "train"_a = ScoreDict(result.train), "holdout"_a = ScoreDict(result.holdout),
                    "seconds"_a = result.seconds);
    return py::make_tuple(std::move(snapshot), report);
  }, "log"_a, "hidden"_a = std::vector<int64_t>{64, 64}, "epochs"_a = 100, "updates"_a = 0,
     "holdout"_a = 0.2, "seed"_a = 1,
     "Trains a student from scratch on a log's labels (`apprentice distill`); returns "
     "(Snapshot, report).");
}
