// fbseg_data_parallel_check: trains a small UNet for a few steps, data parallel on MPI or in one
// process, and compares runs (tests/distributed/data_parallel.sh, docs/scaling.md).
//
//   fbseg_data_parallel_check run OUT.safetensors [--no-mpi] [--threads T] [--no-sync-bn]
//                             [--base 8 --depth 2 --size 32]  (the UNet and the image side; larger for timing)
//       mpirun -np N: N ranks share every batch of 4 ultrasound phantom images (32 x 32); each
//       step scales the local loss by n_local / n_global, sums the gradients over the ranks and
//       takes an SGD step. Rank 0 writes the final state_dict, with the loss of every step in the
//       metadata. Every rank checks that its weights are bitwise those of rank 0 (so that no
//       rounding difference between the ranks' all-reduce results goes unnoticed).
//       --no-mpi: the same training in a process that never starts MPI (the single-process
//       reference). --no-sync-bn: BatchNorm on each rank's share only (the negative control).
//   fbseg_data_parallel_check compare A.safetensors B.safetensors [--exact | --rtol R --atol A]
//       every loss and every tensor element: |a - b| <= atol + rtol |a|, or bit for bit.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <fbseg/distributed/mpi.hpp>
#include <fbseg/fbseg.hpp>

using namespace fbseg;

namespace {

constexpr int kEpochs = 2;           // 3 steps each: 12 training images, batch 4
constexpr std::int64_t kBatch = 4;

struct RunOptions {
    bool use_mpi = true, sync_bn = true;
    int threads = 1;
    std::int64_t base = 8, depth = 2, size = 32;  // the UNet and the image side (larger: a timing run)
};

int run(const std::string& out, const RunOptions& o, int* argc, char*** argv) {
    const bool use_mpi = o.use_mpi, sync_bn = o.sync_bn;
    const int threads = o.threads;
    std::unique_ptr<distributed::Communicator> group;
    if (use_mpi) group = std::make_unique<distributed::MpiCommunicator>(argc, argv);
    else group = std::make_unique<distributed::SingleProcess>();
    set_num_threads(threads);

    data::phantom::PhantomDatasetOptions p;
    p.modality = data::phantom::Modality::ultrasound;
    p.count = 12;
    p.seed = 5;
    p.us.height = 54;
    p.us.width = 80;
    data::phantom::PhantomDataset dataset(p);
    nlohmann::json config = nlohmann::json::array();
    nlohmann::json resize = nlohmann::json::object();
    resize["name"] = "resize";
    resize["height"] = o.size;
    resize["width"] = o.size;
    config.push_back(resize);
    nlohmann::json flips = nlohmann::json::object();
    flips["name"] = "hflip";
    flips["p"] = 0.5;
    config.push_back(flips);
    data::DataLoader loader(dataset, {.batch_size = kBatch, .shuffle = true, .num_workers = 0, .seed = 7,
                                      .transform = data::augment::Pipeline::from_json(config, 1.0),
                                      .rank = group->rank(), .world_size = group->size()});

    manual_seed(11);
    auto model = std::make_shared<models::UNet>(models::UNetOptions().depth(o.depth).base_channels(o.base));
    distributed::broadcast_module(*model, *group);  // rank 0's initial weights everywhere
    if (sync_bn) distributed::convert_sync_batchnorm(*model, group.get());
    optim::SGD optimizer(model->parameters(), {.lr = 0.05, .momentum = 0.9});

    io::Metadata info;
    int step = 0;
    double step_seconds = 0, exchange_seconds = 0;  // the steps after the first; of them, the gradient all-reduce
    using Clock = std::chrono::steady_clock;
    model->train();
    for (int epoch = 0; epoch < kEpochs; ++epoch)
        for (const data::Batch& batch : loader.epoch(epoch)) {
            const auto start = Clock::now();
            const Tensor target = gt(batch.labels, 0.0).to(DType::Float32).unsqueeze(1);
            optimizer.zero_grad();
            const Tensor loss = nn::bce_dice_loss(model->forward(batch.images), target);
            const std::int64_t n_local = batch.images.size(0);
            const double scale = distributed::local_loss_scale(n_local, *group);
            (loss * scale).backward();
            const auto exchange = Clock::now();
            distributed::all_reduce_gradients(model->parameters(), *group);
            const auto exchanged = Clock::now();
            optimizer.step();
            if (step > 0) {
                step_seconds += std::chrono::duration<double>(Clock::now() - start).count();
                exchange_seconds += std::chrono::duration<double>(exchanged - exchange).count();
            }
            double global_loss = loss.item<double>() * scale;  // the global batch's mean loss
            group->all_reduce_sum(&global_loss, 1);
            info["loss." + std::to_string(step++)] = io::format_double(global_loss);
        }
    info["steps"] = std::to_string(step);
    info["ranks"] = std::to_string(group->size());

    // every rank must hold rank 0's parameters, bit for bit (BatchNorm's running statistics too,
    // when they are synchronised: each rank's own otherwise)
    std::vector<float> mine, root;
    for (const auto& [name, t] : sync_bn ? model->state_dict() : model->named_parameters())
        if (t.dtype() == DType::Float32)
            for (float v : t.contiguous().to_vector<float>()) mine.push_back(v);
    root = mine;
    group->broadcast(root.data(), root.size() * sizeof(float), 0);
    const bool same = std::memcmp(root.data(), mine.data(), mine.size() * sizeof(float)) == 0;
    double differ = same ? 0.0 : 1.0;
    group->all_reduce_sum(&differ, 1);
    if (group->is_root()) {
        io::save_safetensors(out, model->state_dict(), info);
        std::cout << group->describe() << ", " << threads << " threads per rank: " << step << " steps, last loss "
                  << info["loss." + std::to_string(step - 1)] << "; " << model->num_parameters(true)
                  << " parameters, " << std::fixed << std::setprecision(1) << 1e3 * step_seconds / (step - 1)
                  << " ms per step, of which the gradient all-reduce " << 1e3 * exchange_seconds / (step - 1) << " ms ("
                  << 100.0 * exchange_seconds / step_seconds << " %)\n";
    }
    if (differ != 0) {
        std::cerr << "data_parallel_check: rank " << group->rank() << ": the ranks' weights differ after training\n";
        return 1;
    }
    return 0;
}

int compare(const std::string& a_path, const std::string& b_path, bool exact, double rtol, double atol) {
    const io::SafetensorsReader a(a_path), b(b_path);
    double worst = 0;  // the largest |a - b| / (atol + rtol |a|)
    std::string worst_where;
    auto check = [&](double x, double y, const std::string& where) {
        const double ratio = exact ? (std::memcmp(&x, &y, sizeof x) == 0 ? 0.0 : 2.0)
                                   : std::abs(x - y) / (atol + rtol * std::abs(x));
        if (!(ratio <= worst)) worst = std::isnan(ratio) ? 1e300 : ratio, worst_where = where;
    };
    const int steps = std::stoi(a.metadata("steps"));
    if (steps != std::stoi(b.metadata("steps"))) {
        std::cerr << "compare: " << steps << " steps against " << b.metadata("steps") << "\n";
        return 1;
    }
    for (int s = 0; s < steps; ++s) {
        const std::string key = "loss." + std::to_string(s);
        check(std::stod(a.metadata(key)), std::stod(b.metadata(key)), key);
    }
    std::size_t values = 0;
    for (const std::string& key : a.keys()) {
        const Tensor x = a.get(key), y = b.get(key);
        if (x.shape() != y.shape()) {
            std::cerr << "compare: '" << key << "' has shape " << shape_str(x.shape()) << " and " << shape_str(y.shape()) << "\n";
            return 1;
        }
        const std::vector<double> xv = x.to(DType::Float64).to_vector<double>(), yv = y.to(DType::Float64).to_vector<double>();
        for (std::size_t i = 0; i < xv.size(); ++i) check(xv[i], yv[i], key + "[" + std::to_string(i) + "]");
        values += xv.size();
    }
    std::cout << "compare: " << steps << " losses and " << values << " values of " << a.size() << " tensors; "
              << (exact ? "bit for bit: " : "worst |a - b| / (atol + rtol |a|) = ") << (exact ? (worst == 0 ? "identical" : "DIFFERENT") : std::to_string(worst))
              << (worst_where.empty() ? "" : " at " + worst_where) << "\n";
    return (exact ? worst == 0 : worst <= 1.0) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::vector<std::string> args(argv + 1, argv + argc);
        auto flag = [&](const char* name) {
            for (const auto& a : args)
                if (a == name) return true;
            return false;
        };
        auto value = [&](const char* name, double fallback) {
            for (std::size_t i = 0; i + 1 < args.size(); ++i)
                if (args[i] == name) return std::stod(args[i + 1]);
            return fallback;
        };
        if (args.size() >= 2 && args[0] == "run")
            return run(args[1],
                       {.use_mpi = !flag("--no-mpi"), .sync_bn = !flag("--no-sync-bn"), .threads = int(value("--threads", 1)),
                        .base = std::int64_t(value("--base", 8)), .depth = std::int64_t(value("--depth", 2)),
                        .size = std::int64_t(value("--size", 32))},
                       &argc, &argv);
        if (args.size() >= 3 && args[0] == "compare")
            return compare(args[1], args[2], flag("--exact"), value("--rtol", 1e-4), value("--atol", 1e-6));
        std::cerr << "usage: fbseg_data_parallel_check run OUT [--no-mpi] [--threads T] [--no-sync-bn] [--base B --depth D --size S]\n"
                     "       fbseg_data_parallel_check compare A B [--exact | --rtol R --atol A]\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "data_parallel_check: " << e.what() << "\n";
        return 1;
    }
}
