#include "engine/trainer.h"

#include <skipzoo/models/weights.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/autocast.h"
#include "engine/progress.h"
#include "engine/run_files.h"
#include "engine/stop.h"

namespace skipzoo::app {

namespace {

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", v);
  return buf;
}

}  // namespace

Trainer::Trainer(models::Model& model, BatchSource& data, TaskHooks& task, TrainOptions options, nlohmann::json config,
                 std::string run_dir)
    : model_(model),
      data_(data),
      task_(task),
      options_(std::move(options)),
      config_(std::move(config)),
      run_dir_(std::move(run_dir)),
      device_(options_.device) {
  if (device_.is_cuda() && !torch::cuda::is_available()) {
    throw std::runtime_error("--device cuda: no CUDA device is available to this LibTorch build");
  }
  if (data_.batches_per_epoch() < 1) throw std::runtime_error("the training data yields no batch");
  place_model();
  optimizer_ = make_optimizer(model_.module(), options_.optimizer);
  state_.config_json = config_.dump();
  std::filesystem::create_directories(run_dir_);
}

void Trainer::place_model() {
  model_.module().to(device_);
  if (options_.channels_last) models::to_memory_format(model_.module(), at::MemoryFormat::ChannelsLast);
}

int64_t Trainer::total_steps() const {
  return options_.iters > 0 ? options_.iters : options_.epochs * data_.batches_per_epoch();
}

void Trainer::resume(CheckpointReader& checkpoint) {
  checkpoint.load_model(model_.module());
  place_model();
  checkpoint.load_optimizer(*optimizer_);
  checkpoint.restore_rng();
  const auto config_json = state_.config_json;
  state_ = checkpoint.state();
  state_.config_json = config_json;
}

void Trainer::save(const std::string& name) {
  save_checkpoint((std::filesystem::path(run_dir_) / name).string(), state_, model_.module(), optimizer_.get());
}

nlohmann::json Trainer::validate(int64_t epoch) {
  torch::NoGradGuard no_grad;  // the task may also use InferenceMode inside
  model_.module().eval();
  auto metrics = task_.validate(model_, device_, run_dir_, epoch);
  model_.module().train();
  return metrics;
}

void Trainer::log_epoch(nlohmann::json row) {
  auto history = nlohmann::json::parse(state_.history_json);
  history.push_back(std::move(row));
  state_.history_json = history.dump();
  write_run_logs(run_dir_, history, task_.main_metric());
}

TrainResult Trainer::run() {
  install_stop_handlers();
  const int64_t total = total_steps();
  const int64_t per_epoch = data_.batches_per_epoch();
  const int64_t epochs = (total + per_epoch - 1) / per_epoch;
  const bool tty = stdout_is_tty();
  const bool amp = options_.amp && device_.is_cuda();
  TrainResult result;
  model_.module().train();

  while (state_.step < total && !stop_requested()) {
    const int64_t epoch = state_.epoch;
    data_.start_epoch(epoch, state_.batch);
    const int64_t batches = std::min(per_epoch, state_.batch + (total - state_.step));
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), batches, std::cout, tty);
    const double wait_start = data_.wait_seconds();
    double loss_sum = 0, lr = 0;
    int64_t loss_count = 0, images = 0;
    Batch batch;
    while (state_.batch < batches && data_.next(batch)) {
      lr = scheduled_lr(options_.optimizer.lr, state_.step, total, options_.schedule);
      set_lr(*optimizer_, lr);
      auto inputs = batch.inputs.to(device_, /*non_blocking=*/true);
      if (options_.channels_last && inputs.dim() == 4) inputs = inputs.contiguous(at::MemoryFormat::ChannelsLast);
      auto targets = batch.targets.to(device_, /*non_blocking=*/true);
      model_.module().zero_grad(/*set_to_none=*/true);
      torch::Tensor loss;
      {
        AutocastGuard autocast(device_, amp);
        loss = task_.loss(model_.forward(inputs), targets);
      }
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw NonFiniteLoss("the loss became " + std::to_string(value) + " at epoch " + std::to_string(epoch + 1) +
                            ", step " + std::to_string(state_.step + 1) +
                            "; try a lower --lr or --clip-grad. The last good checkpoint is " + run_dir_ +
                            "/last.ckpt");
      }
      loss.backward();
      if (options_.clip_grad_norm > 0) {
        torch::nn::utils::clip_grad_norm_(model_.module().parameters(), options_.clip_grad_norm);
      }
      optimizer_->step();
      ++state_.step;
      ++state_.batch;
      loss_sum += value;
      ++loss_count;
      images += inputs.size(0);
      const double elapsed = progress.elapsed();
      const double wait = data_.wait_seconds() - wait_start;
      progress.update(state_.batch, "loss " + fixed(loss_sum / loss_count, 4) + "  lr " + sci(lr) + "  " +
                                        fixed(images / std::max(elapsed, 1e-9), 1) + " img/s  wait " +
                                        fixed(100 * wait / std::max(elapsed, 1e-9), 0) + "%");
      if (stop_requested()) break;
    }
    if (stop_requested() && state_.batch < batches) {  // interrupted mid-epoch: resume continues here
      progress.finish("interrupted at batch " + std::to_string(state_.batch) + "/" + std::to_string(batches));
      save("last.ckpt");
      result.interrupted = true;
      break;
    }
    const double seconds = progress.elapsed();
    const double wait = data_.wait_seconds() - wait_start;
    nlohmann::json row = {{"epoch", epoch + 1},
                          {"step", state_.step},
                          {"train_loss", loss_count ? loss_sum / loss_count : 0.0},
                          {"lr", lr},
                          {"images_per_s", images / std::max(seconds, 1e-9)},
                          {"data_wait", wait / std::max(seconds, 1e-9)},
                          {"seconds", seconds}};
    std::string summary = "loss " + fixed(row["train_loss"].get<double>(), 4) + "  " +
                          fixed(row["images_per_s"].get<double>(), 1) + " img/s";
    state_.epoch = epoch + 1;
    state_.batch = 0;
    const bool last = state_.step >= total;
    if (last || state_.epoch % std::max<int64_t>(1, options_.val_every) == 0) {
      auto metrics = validate(epoch);
      const double main = metrics.value(task_.main_metric(), std::nan(""));
      for (auto& [key, value] : metrics.items()) row["val_" + key] = value;
      summary += "  val " + task_.main_metric() + " " + fixed(main, 4);
      if (std::isfinite(main) && main > state_.best_metric) {
        state_.best_metric = main;
        state_.best_epoch = epoch + 1;
        summary += " (best)";
      }
      result.last_metrics = metrics;
    }
    progress.finish(summary);
    log_epoch(row);
    if (state_.best_epoch == epoch + 1) save("best.ckpt");
    save("last.ckpt");
  }
  result.interrupted = result.interrupted || (stop_requested() && state_.step < total);
  result.epochs_done = state_.epoch;
  result.steps_done = state_.step;
  result.best_metric = state_.best_metric;
  result.best_epoch = state_.best_epoch;
  return result;
}

}  // namespace skipzoo::app
