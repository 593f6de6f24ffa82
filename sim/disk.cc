// SimDisk: see sim/disk.h for the crash and fault model. This file keeps these
// invariants (checked with VERIFY where they are cheap):
//  - An inode's dirty ranges and size_dirty flag describe everything in which its
//    volatile image may differ from its durable image, except divergence that a failed
//    sync() deliberately left behind (Linux's fsync error semantics).
//  - Every path whose volatile and durable namespace entries differ has a pending
//    change group; a rename gives its two paths one group, so a crash keeps or loses
//    the rename as a whole when neither side was synced.
//  - `used_bytes` is the sum of the volatile sizes of the inodes reachable from either
//    namespace (an unlinked file kept open by a handle uses no space, unlike POSIX).
//  - Random draws happen in a fixed order (sorted paths, ascending inode ids and
//    sectors), so a run is a function of the seed.
// Simplifications, on purpose (also stated in sim/disk.h):
//  - Directories themselves are durable as soon as make_directories() (or remove() of
//    an empty directory) returns; only file entries inside them are volatile.
//  - A failed sync_directory() persists nothing; a retry can still succeed.
//  - Crash effects (torn sectors, lost entries) apply whether or not fault injection
//    is active: losing unsynced data on a crash is the contract, not an injected fault.
//  - A rename whose two directories are synced separately can leave both names on one
//    inode after a crash (a hard link); a storage engine must not rely on either.
#include "sim/disk.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "base/assert.h"

namespace weir::sim {

using runtime::IoError;
using runtime::IoResult;

namespace {

constexpr uint64_t sector_bytes = SimDisk::sector_bytes;
static_assert(sector_bytes > 0 && (sector_bytes & (sector_bytes - 1)) == 0,
              "sector arithmetic assumes a power of two");

Unexpected<IoError> fail(IoError error) { return weir::unexpected(error); }

// A set of sector numbers kept as disjoint, non-adjacent half-open ranges, so that a
// large write or truncate costs one map operation rather than one per sector.
class SectorRanges {
 public:
  void add(uint64_t first, uint64_t end) {
    VERIFY(first < end, "empty sector range [{}, {})", first, end);
    auto it = ranges_.upper_bound(first);
    if (it != ranges_.begin()) {
      auto previous = std::prev(it);
      if (previous->second >= first) {
        first = previous->first;
        end = std::max(end, previous->second);
        it = ranges_.erase(previous);
      }
    }
    while (it != ranges_.end() && it->first <= end) {
      end = std::max(end, it->second);
      it = ranges_.erase(it);
    }
    ranges_.emplace(first, end);
    VERIFY(!ranges_.empty());
  }
  void clear() { ranges_.clear(); }
  bool empty() const { return ranges_.empty(); }
  uint64_t sector_count() const {
    uint64_t count = 0;
    for (const auto& [first, end] : ranges_) count += end - first;
    return count;
  }
  // Calls visit(sector) for each sector in ascending order.
  template <typename Visit>
  void for_each_sector(Visit&& visit) const {
    for (const auto& [first, end] : ranges_) {
      VERIFY(first < end);
      for (uint64_t sector = first; sector < end; sector++) visit(sector);
    }
  }
  // Calls visit(first, end) for each range in ascending order.
  template <typename Visit>
  void for_each_range(Visit&& visit) const {
    for (const auto& [first, end] : ranges_) visit(first, end);
  }

 private:
  absl::btree_map<uint64_t, uint64_t> ranges_;  // first sector -> end sector
};

struct Inode {
  explicit Inode(uint64_t id_) : id(id_) {}
  const uint64_t id;  // creation order; gives deterministic iteration over inodes
  std::vector<std::byte> volatile_bytes;  // what reads see
  std::vector<std::byte> durable_bytes;   // what survives a crash; its size is durable
  SectorRanges dirty_sectors;
  bool size_dirty = false;
  // Set when a failed sync lost data: the volatile image may then differ from the
  // durable one without being dirty, until a crash makes them equal again.
  bool diverged = false;
  // Whether the inode is reachable from a namespace and so counted in used_bytes.
  bool on_disk = false;
  // Entries naming it in the volatile and the durable namespace together
  // (DiskModel::set_name keeps the count); 0 makes it garbage.
  uint32_t names = 0;

  void mark_dirty(uint64_t offset, uint64_t length) {
    if (length == 0) return;
    const uint64_t first = offset / sector_bytes;
    const uint64_t end = (offset + length + sector_bytes - 1) / sector_bytes;
    VERIFY(first < end);
    dirty_sectors.add(first, end);
  }
};

using InodePtr = std::shared_ptr<Inode>;
using Namespace = absl::btree_map<std::string, InodePtr>;

bool valid_component(std::string_view component) {
  return !component.empty() && component != "." && component != "..";
}

// A path: '/'-separated components, each non-empty and neither "." nor "..".
// `allow_root` admits "" as the root directory.
bool valid_path(const std::string& path, bool allow_root) {
  if (path.empty()) return allow_root;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    if (!valid_component(std::string_view(path).substr(start, end - start))) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// The prefix every path directly or indirectly inside `directory` starts with.
std::string prefix_of(const std::string& directory) {
  return directory.empty() ? std::string() : directory + "/";
}

// 64-bit mixing for the durable digest (splitmix64 finaliser over a running state).
class Digest {
 public:
  void add(uint64_t value) {
    state_ ^= value + 0x9e3779b97f4a7c15ULL + (state_ << 6) + (state_ >> 2);
    state_ = mix(state_);
  }
  void add(std::string_view text) {
    add(text.size());
    add_bytes(reinterpret_cast<const std::byte*>(text.data()), text.size());
  }
  void add_bytes(const std::byte* data, size_t size) {
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, data + i, 8);
      add(word);
    }
    uint64_t tail = 0;
    for (size_t shift = 0; i < size; i++, shift += 8) {
      tail |= static_cast<uint64_t>(data[i]) << shift;
    }
    add(tail);
  }
  uint64_t value() const { return state_; }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_ = 0x6a09e667f3bcc908ULL;
};

uint64_t path_hash(std::string_view path) {
  Digest digest;
  digest.add(path);
  return digest.value();
}

// Everything a SimDisk is; SimFile handles point here.
class DiskModel {
 public:
  DiskModel(runtime::Scheduler& scheduler, runtime::Random random, const DiskFaults& faults,
            FaultStats& stats, DiskTiming timing, runtime::Tracer* tracer)
      : scheduler_(scheduler), random_(random), faults_(faults), stats_(stats), timing_(timing),
        tracer_(tracer) {}

  // Folds an operation or a fault into the run's trace: the event name, then two
  // numbers that identify what it touched (an inode id or path hash, an offset).
  void trace(std::string_view event, uint64_t a, uint64_t b) {
    if (tracer_ != nullptr) tracer_->trace(event, a, b);
  }

  // Called when a fault may cost unsynced writes although the machine kept power.
  std::function<void()> on_unsynced_loss;

  // --- Fault decisions and latency. -------------------------------------------------
  bool injecting() const { return faults_active_ && faults_.enabled; }
  // Draws a fault only while injecting, so a healed run draws nothing from `random_`
  // for faults (crash decisions still draw).
  bool fault_fires(double probability, std::string_view kind) {
    if (!injecting() || probability <= 0) return false;
    if (!random_.chance(probability)) return false;
    stats_.count(kind);
    trace(kind, operations_, 0);
    // A failed sync forgets dirty sectors; any other failed I/O makes a log suspect,
    // and the broker reopens it from what is durable: either way unsynced writes go.
    if (on_unsynced_loss && (kind == "disk.sync_error" || kind == "disk.write_error" ||
                             kind == "disk.read_error" || kind == "disk.read_corruption")) {
      on_unsynced_loss();
    }
    return true;
  }
  // Starts an operation: traces it and suspends the calling fiber for its simulated
  // duration. Callers re-check whatever they validated before, since the world may
  // have changed (a crash, another fiber's rename) while they slept.
  void suspend_for_operation(std::string_view operation, uint64_t a, uint64_t b,
                             runtime::Duration normal) {
    operations_++;
    trace(operation, a, b);
    const bool slow = fault_fires(faults_.slow, "disk.slow");
    scheduler_.sleep_for(slow ? timing_.slow_latency : normal);
  }
  void suspend_for_operation(std::string_view operation, uint64_t a, uint64_t b) {
    suspend_for_operation(operation, a, b, timing_.latency);
  }
  void suspend_for_sync(std::string_view operation, uint64_t a) {
    suspend_for_operation(operation, a, 0, timing_.sync_latency);
  }

  // --- Namespace. ---------------------------------------------------------------------
  bool directory_exists(const std::string& directory) const {
    return directory.empty() || directories_.contains(directory);
  }

  InodePtr create_file(const std::string& path) {
    VERIFY(!volatile_names_.contains(path), "{} exists", path);
    VERIFY(directory_exists(parent_of(path)), "{} has no parent", path);
    auto inode = std::make_shared<Inode>(next_inode_id_++);
    inode->on_disk = true;
    inodes_.emplace(inode->id, inode);
    VERIFY(!volatile_names_.contains(path));
    set_name(volatile_names_, path, inode);
    pending_groups_[path] = next_group_++;
    return inode;
  }

  void remove_file(const std::string& path) {
    VERIFY(volatile_names_.contains(path), "remove of missing {}", path);
    set_name(volatile_names_, path, nullptr);
    pending_groups_[path] = next_group_++;
    collect_garbage();
  }

  void rename_file(const std::string& from, const std::string& to) {
    auto it = volatile_names_.find(from);
    VERIFY(it != volatile_names_.end(), "rename of missing {}", from);
    VERIFY(from != to);
    InodePtr inode = it->second;
    // Named by `to` before `from` lets go: its count never passes through zero.
    set_name(volatile_names_, to, std::move(inode));
    set_name(volatile_names_, from, nullptr);
    // One group: a crash keeps both halves of the rename or neither.
    const uint64_t group = next_group_++;
    pending_groups_[from] = group;
    pending_groups_[to] = group;
    collect_garbage();
  }

  // Makes the entries directly inside `directory` durable as they are now.
  void persist_directory(const std::string& directory) {
    VERIFY(directory_exists(directory));
    const std::string prefix = prefix_of(directory);
    std::vector<std::string> synced;
    for (auto it = pending_groups_.lower_bound(prefix);
         it != pending_groups_.end() && it->first.starts_with(prefix); ++it) {
      if (parent_of(it->first) == directory) synced.push_back(it->first);
    }
    for (const std::string& path : synced) {
      auto current = volatile_names_.find(path);
      set_name(durable_names_, path, current == volatile_names_.end() ? nullptr : current->second);
      pending_groups_.erase(path);
      VERIFY(same_entry(path), "{} differs after its directory was synced", path);
    }
    collect_garbage();
  }

  std::vector<std::string> list(const std::string& directory) const {
    VERIFY(directory_exists(directory));
    const std::string prefix = prefix_of(directory);
    std::vector<std::string> names;
    auto collect = [&](const std::string& path) {
      if (parent_of(path) == directory) names.push_back(path.substr(prefix.size()));
    };
    for (auto it = volatile_names_.lower_bound(prefix);
         it != volatile_names_.end() && it->first.starts_with(prefix); ++it) {
      collect(it->first);
    }
    for (auto it = directories_.lower_bound(prefix);
         it != directories_.end() && it->starts_with(prefix); ++it) {
      collect(*it);
    }
    // A name is either a file or a directory, never both, so merging needs no dedup.
    std::sort(names.begin(), names.end());
    VERIFY(std::adjacent_find(names.begin(), names.end()) == names.end());
    return names;
  }

  // Whether a file holds the name now or may hold it again after a crash.
  bool file_entry_anywhere(const std::string& path) const {
    return volatile_names_.contains(path) || durable_names_.contains(path);
  }

  bool directory_empty(const std::string& directory) const {
    const std::string prefix = prefix_of(directory);
    auto file = volatile_names_.lower_bound(prefix);
    if (file != volatile_names_.end() && file->first.starts_with(prefix)) return false;
    // A file removed without a directory sync could come back in a crash.
    auto durable = durable_names_.lower_bound(prefix);
    if (durable != durable_names_.end() && durable->first.starts_with(prefix)) return false;
    auto sub = directories_.lower_bound(prefix);
    return sub == directories_.end() || !sub->starts_with(prefix);
  }

  // Removes an empty directory, which (like creating one) is durable at once.
  void remove_directory(const std::string& directory) {
    VERIFY(!directory.empty(), "the root cannot be removed");
    VERIFY(directory_empty(directory), "{} is not empty", directory);
    const size_t erased = directories_.erase(directory);
    VERIFY(erased == 1);
    // Only changes that cancelled out (created then removed) can remain pending inside.
    const std::string prefix = prefix_of(directory);
    auto it = pending_groups_.lower_bound(prefix);
    while (it != pending_groups_.end() && it->first.starts_with(prefix)) {
      VERIFY(same_entry(it->first), "{} still differs", it->first);
      it = pending_groups_.erase(it);
    }
  }

  // --- Data. ----------------------------------------------------------------------------
  IoResult<void> reserve(const Inode& inode, uint64_t new_size) {
    const uint64_t old_size = inode.volatile_bytes.size();
    if (!inode.on_disk || new_size <= old_size) return {};
    VERIFY(used_bytes_ >= old_size);
    if (used_bytes_ - old_size + new_size > timing_.capacity_bytes) return fail(IoError::no_space);
    return {};
  }

  void resize_volatile(Inode& inode, uint64_t new_size) {
    const uint64_t old_size = inode.volatile_bytes.size();
    if (new_size == old_size) return;
    if (new_size < old_size) {
      // The cut-off sectors must be rewritten as zeros if the file grows again before
      // the shrink is synced, so they become dirty.
      inode.mark_dirty(new_size, old_size - new_size);
    }
    if (inode.on_disk) {
      VERIFY(used_bytes_ >= old_size);
      used_bytes_ = used_bytes_ - old_size + new_size;
    }
    inode.volatile_bytes.resize(new_size);
    inode.size_dirty = true;
    VERIFY(inode.volatile_bytes.size() == new_size);
  }

  void write(Inode& inode, uint64_t offset, std::span<const std::byte> bytes) {
    const uint64_t end = offset + bytes.size();
    VERIFY(end >= offset, "write past 2^64");
    if (end > inode.volatile_bytes.size()) resize_volatile(inode, end);
    std::memcpy(inode.volatile_bytes.data() + offset, bytes.data(), bytes.size());
    inode.mark_dirty(offset, bytes.size());
    VERIFY(inode.volatile_bytes.size() >= end);
  }

  // Moves the dirty state of `inode` into its durable image. With `survives` = 1 every
  // dirty sector and the size reach the durable image (a successful sync); otherwise
  // each reaches it independently with that probability (a crash or a failed sync).
  // Returns the number of dirty sectors that did not make it. Afterwards the inode is
  // clean: a failed sync's lost sectors are forgotten, as Linux forgets them.
  uint64_t persist(Inode& inode, double survives) {
    const uint64_t volatile_size = inode.volatile_bytes.size();
    // A successful sync makes the current size durable even when the size is not marked
    // dirty: after a failed sync forgot a size change, later writes land past the
    // durable end, and a sync that succeeds must persist them.
    if (survives >= 1) {
      inode.durable_bytes.resize(volatile_size);
    } else if (inode.size_dirty && random_.chance(survives)) {
      inode.durable_bytes.resize(volatile_size);
    }
    const uint64_t durable_size = inode.durable_bytes.size();
    const uint64_t copy_limit = std::min(durable_size, volatile_size);
    uint64_t lost = 0;
    auto copy = [&](uint64_t begin, uint64_t end) {
      end = std::min(end, copy_limit);
      if (begin >= end) return;
      std::memcpy(inode.durable_bytes.data() + begin, inode.volatile_bytes.data() + begin,
                  end - begin);
    };
    if (survives >= 1) {
      inode.dirty_sectors.for_each_range(
          [&](uint64_t first, uint64_t end) { copy(first * sector_bytes, end * sector_bytes); });
    } else {
      inode.dirty_sectors.for_each_sector([&](uint64_t sector) {
        // A sector past the volatile end held no new data (a shrink marked it), and one
        // past the surviving size has nowhere to go: it is lost without a draw.
        if (sector * sector_bytes >= volatile_size) return;
        if (sector * sector_bytes >= copy_limit) {
          lost++;
          return;
        }
        if (random_.chance(survives)) {
          copy(sector * sector_bytes, (sector + 1) * sector_bytes);
        } else {
          lost++;
        }
      });
    }
    const bool size_lost = inode.size_dirty && inode.durable_bytes.size() != volatile_size;
    if (lost > 0 || size_lost) inode.diverged = true;
    inode.dirty_sectors.clear();
    inode.size_dirty = false;
    VERIFY(inode.dirty_sectors.empty());
    VERIFY(survives < 1 || inode.diverged || inode.durable_bytes.size() == volatile_size,
           "a complete sync left inode {} at size {} of {}", inode.id, inode.durable_bytes.size(),
           volatile_size);
    return lost;
  }

  // Makes the volatile image equal to the durable one, given the sectors in which they
  // may differ.
  static void revert_volatile(Inode& inode, const SectorRanges& dirty) {
    const uint64_t durable_size = inode.durable_bytes.size();
    inode.volatile_bytes.resize(durable_size);
    dirty.for_each_range([&](uint64_t first, uint64_t end) {
      const uint64_t begin_byte = first * sector_bytes;
      const uint64_t end_byte = std::min(end * sector_bytes, durable_size);
      if (begin_byte >= end_byte) return;
      std::memcpy(inode.volatile_bytes.data() + begin_byte, inode.durable_bytes.data() + begin_byte,
                  end_byte - begin_byte);
    });
    VERIFY(inode.volatile_bytes.size() == durable_size);
  }

  // --- Crash. ---------------------------------------------------------------------------
  void crash() {
    generation_++;
    trace("disk.crash", generation_, used_bytes_);
    for (const auto& [path, inode] : volatile_names_) {
      VERIFY(same_entry(path) || pending_groups_.contains(path), "{} changed untracked", path);
    }
    for (const auto& [path, inode] : durable_names_) {
      VERIFY(same_entry(path) || pending_groups_.contains(path), "{} changed untracked", path);
    }
    const double entry_survives = faults_.unsynced_entry_survives;
    // Directory entries first: which inodes survive depends on them.
    absl::btree_map<uint64_t, bool> group_survives;
    for (const auto& [path, group] : pending_groups_) {
      if (same_entry(path)) continue;
      auto [decision, inserted] = group_survives.try_emplace(group, false);
      if (inserted) {
        decision->second = random_.chance(entry_survives);
        if (!decision->second) stats_.count("disk.lost_entry");
      }
      if (!decision->second) continue;
      auto current = volatile_names_.find(path);
      set_name(durable_names_, path, current == volatile_names_.end() ? nullptr : current->second);
    }
    pending_groups_.clear();
    // Then the data of every inode the durable namespace still reaches, in id order.
    absl::btree_map<uint64_t, Inode*> surviving;
    for (const auto& [path, inode] : durable_names_) surviving.emplace(inode->id, inode.get());
    const double sector_survives = faults_.unsynced_sector_survives;
    for (const auto& [id, inode] : surviving) {
      // Outside the dirty sectors the two images are equal unless a failed sync made
      // them diverge, so only those sectors need copying back (a crash must not cost
      // a copy of every file).
      const SectorRanges dirty = inode->dirty_sectors;
      const bool diverged = inode->diverged;
      const uint64_t lost = persist(*inode, sector_survives);
      for (uint64_t i = 0; i < lost; i++) stats_.count("disk.torn_sector");
      VERIFY(inode->on_disk);
      VERIFY(used_bytes_ >= inode->volatile_bytes.size());
      used_bytes_ = used_bytes_ - inode->volatile_bytes.size() + inode->durable_bytes.size();
      if (diverged) {
        inode->volatile_bytes = inode->durable_bytes;
      } else {
        revert_volatile(*inode, dirty);
      }
      inode->diverged = false;
      VERIFY(!inode->size_dirty);
      VERIFY(inode->dirty_sectors.empty());
      VERIFY(inode->volatile_bytes.size() == inode->durable_bytes.size());
    }
    for (const auto& [path, inode] : volatile_names_) release(inode);
    volatile_names_ = durable_names_;
    for (const auto& [path, inode] : volatile_names_) inode->names++;
    collect_garbage();
    VERIFY(pending_groups_.empty());
    VERIFY(volatile_names_.size() == durable_names_.size());
  }

  uint64_t durable_digest() const {
    Digest digest;
    for (const std::string& directory : directories_) digest.add(directory);
    digest.add(durable_names_.size());
    for (const auto& [path, inode] : durable_names_) {
      digest.add(path);
      digest.add(inode->durable_bytes.size());
      digest.add_bytes(inode->durable_bytes.data(), inode->durable_bytes.size());
    }
    return digest.value();
  }

  uint64_t generation() const { return generation_; }
  uint64_t used_bytes() const { return used_bytes_; }
  void set_faults_active(bool active) { faults_active_ = active; }
  runtime::Random& random() { return random_; }
  const DiskFaults& faults() const { return faults_; }
  FaultStats& stats() { return stats_; }

  Namespace& volatile_names() { return volatile_names_; }
  const Namespace& volatile_names() const { return volatile_names_; }
  absl::btree_set<std::string>& directories() { return directories_; }

 private:
  bool same_entry(const std::string& path) const {
    auto current = volatile_names_.find(path);
    auto durable = durable_names_.find(path);
    const bool in_current = current != volatile_names_.end();
    const bool in_durable = durable != durable_names_.end();
    if (in_current != in_durable) return false;
    return !in_current || current->second == durable->second;
  }

  // Rebuilds the table of inodes reachable from either namespace and recounts
  // used_bytes; an inode that left both namespaces stops using space.
  // Collects the inodes that lost their last name since the last collection: they
  // leave the disk and stop counting in used_bytes (an open file may still hold one).
  // Every 1024th collection checks the counts against a full scan of both namespaces.
  void collect_garbage() {
    for (const InodePtr& inode : unnamed_) {
      if (inode->names > 0 || !inode->on_disk) continue;  // named again, or collected
      VERIFY(used_bytes_ >= inode->volatile_bytes.size());
      used_bytes_ -= inode->volatile_bytes.size();
      inode->on_disk = false;
      inodes_.erase(inode->id);
    }
    unnamed_.clear();
    if (++collections_ % 1024 == 0) verify_names();
  }

  // The slow check the counts replace: every inode on disk is named, as often as the
  // namespaces name it, and used_bytes is the sum of their sizes.
  void verify_names() const {
    absl::btree_map<uint64_t, uint32_t> counted;
    for (const auto& [path, inode] : volatile_names_) counted[inode->id]++;
    for (const auto& [path, inode] : durable_names_) counted[inode->id]++;
    VERIFY(counted.size() == inodes_.size(), "{} named inodes, {} on disk", counted.size(),
           inodes_.size());
    uint64_t used = 0;
    for (const auto& [id, inode] : inodes_) {
      VERIFY(inode->on_disk, "inode {} is not on disk", id);
      VERIFY(counted.contains(id) && counted.at(id) == inode->names, "inode {} counts {} names", id,
             inode->names);
      used += inode->volatile_bytes.size();
    }
    VERIFY(used == used_bytes_, "used bytes drifted: {} counted, {} recomputed", used_bytes_, used);
  }

  // Points `names[path]` at `inode` (null: removes the entry), keeping every inode's
  // count of names.
  void set_name(Namespace& names, const std::string& path, InodePtr inode) {
    auto it = names.find(path);
    if (inode != nullptr) inode->names++;
    if (it == names.end()) {
      if (inode != nullptr) names.emplace(path, std::move(inode));
      return;
    }
    InodePtr previous = std::move(it->second);
    if (inode != nullptr) {
      it->second = std::move(inode);
    } else {
      names.erase(it);
    }
    release(previous);
  }

  void release(const InodePtr& inode) {
    VERIFY(inode->names > 0, "inode {} released more often than named", inode->id);
    if (--inode->names == 0) unnamed_.push_back(inode);
  }

 private:
  runtime::Scheduler& scheduler_;
  runtime::Random random_;
  const DiskFaults& faults_;
  FaultStats& stats_;
  const DiskTiming timing_;
  runtime::Tracer* const tracer_;  // may be null

  uint64_t operations_ = 0;  // operations started, to place faults in the trace
  bool faults_active_ = false;
  uint64_t generation_ = 0;
  uint64_t next_inode_id_ = 1;
  uint64_t next_group_ = 1;
  uint64_t used_bytes_ = 0;
  // Inodes whose last name went since the last collection.
  std::vector<InodePtr> unnamed_;
  uint64_t collections_ = 0;

  Namespace volatile_names_;
  Namespace durable_names_;
  // Unsynced entry changes: path -> change group.
  absl::btree_map<std::string, uint64_t> pending_groups_;
  absl::btree_set<std::string> directories_;
  absl::btree_map<uint64_t, InodePtr> inodes_;  // reachable from either namespace
};

// An open file: a handle on an inode, valid until the disk crashes or it is closed.
class SimFile final : public runtime::File {
 public:
  SimFile(DiskModel& disk, InodePtr inode)
      : disk_(disk), inode_(std::move(inode)), generation_(disk.generation()) {
    VERIFY(inode_ != nullptr);
  }

  IoResult<size_t> read_at(uint64_t offset, std::span<std::byte> buffer) override {
    if (!usable()) return fail(IoError::io);
    disk_.suspend_for_operation("disk.read", inode_->id, offset);
    if (!usable()) return fail(IoError::io);
    const DiskFaults& faults = disk_.faults();
    if (disk_.fault_fires(faults.read_error, "disk.read_error")) return fail(IoError::io);
    const uint64_t size = inode_->volatile_bytes.size();
    if (offset >= size) return size_t{0};
    const size_t count = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - offset));
    if (count == 0) return size_t{0};
    std::memcpy(buffer.data(), inode_->volatile_bytes.data() + offset, count);
    if (disk_.fault_fires(faults.read_corruption, "disk.read_corruption")) {
      // Only the caller's copy is damaged: a second read may come back clean.
      const uint64_t bit = disk_.random().below(count * 8);
      buffer[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    }
    VERIFY(count <= buffer.size());
    VERIFY(offset + count <= inode_->volatile_bytes.size());
    return count;
  }

  IoResult<void> write_at(uint64_t offset, std::span<const std::byte> bytes) override {
    if (!usable()) return fail(IoError::io);
    disk_.suspend_for_operation("disk.write", inode_->id, offset);
    if (!usable()) return fail(IoError::io);
    const DiskFaults& faults = disk_.faults();
    if (disk_.fault_fires(faults.write_error, "disk.write_error")) return fail(IoError::io);
    if (disk_.fault_fires(faults.no_space, "disk.no_space")) return fail(IoError::no_space);
    if (bytes.empty()) return {};
    const uint64_t end = offset + bytes.size();
    if (end < offset) return fail(IoError::invalid);
    if (auto reserved = disk_.reserve(*inode_, end); !reserved) return reserved;
    disk_.write(*inode_, offset, bytes);
    VERIFY(inode_->volatile_bytes.size() >= end);
    VERIFY(!inode_->dirty_sectors.empty());
    return {};
  }

  IoResult<uint64_t> size() override {
    if (!usable()) return fail(IoError::io);
    disk_.suspend_for_operation("disk.size", inode_->id, 0);
    if (!usable()) return fail(IoError::io);
    return static_cast<uint64_t>(inode_->volatile_bytes.size());
  }

  IoResult<void> truncate(uint64_t new_size) override {
    if (!usable()) return fail(IoError::io);
    disk_.suspend_for_operation("disk.truncate", inode_->id, new_size);
    if (!usable()) return fail(IoError::io);
    if (auto reserved = disk_.reserve(*inode_, new_size); !reserved) return reserved;
    disk_.resize_volatile(*inode_, new_size);
    VERIFY(inode_->volatile_bytes.size() == new_size);
    return {};
  }

  IoResult<void> sync() override {
    if (!usable()) return fail(IoError::io);
    disk_.suspend_for_sync("disk.sync", inode_->id);
    if (!usable()) return fail(IoError::io);
    const DiskFaults& faults = disk_.faults();
    if (disk_.fault_fires(faults.sync_error, "disk.sync_error")) {
      // fsyncgate: some dirty sectors reached the disk, the rest are forgotten.
      disk_.persist(*inode_, faults.unsynced_sector_survives);
      VERIFY(!inode_->size_dirty);
      return fail(IoError::io);
    }
    const uint64_t lost = disk_.persist(*inode_, 1.0);
    VERIFY(lost == 0);
    VERIFY(inode_->dirty_sectors.empty());
    return {};
  }

  void close() override {
    VERIFY(!closed_, "file closed twice");
    closed_ = true;
  }

 private:
  // False after a crash of the disk. Using a closed handle is a programmer error.
  bool usable() const {
    VERIFY(!closed_, "use of a closed file");
    return generation_ == disk_.generation();
  }

  DiskModel& disk_;
  InodePtr inode_;
  const uint64_t generation_;
  bool closed_ = false;
};

}  // namespace

struct SimDisk::State {
  DiskModel model;
};

SimDisk::SimDisk(runtime::Scheduler& scheduler, runtime::Random random, const DiskFaults& faults,
                 FaultStats& stats, DiskTiming timing, runtime::Tracer* tracer)
    : state_(std::make_unique<State>(
          State{DiskModel(scheduler, random, faults, stats, timing, tracer)})) {}

SimDisk::~SimDisk() = default;

void SimDisk::set_on_unsynced_loss(std::function<void()> callback) {
  state_->model.on_unsynced_loss = std::move(callback);
}

IoResult<std::unique_ptr<runtime::File>> SimDisk::open(const std::string& path,
                                                       runtime::OpenMode mode) {
  DiskModel& disk = state_->model;
  if (!valid_path(path, false)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.open", path_hash(path), static_cast<uint64_t>(mode));
  // The process is out of descriptors: the kernel refuses before it looks at the path.
  if (disk.fault_fires(disk.faults().too_many_open_files, "disk.too_many_open_files")) {
    return fail(IoError::too_many_open_files);
  }
  if (disk.directories().contains(path)) return fail(IoError::invalid);
  if (!disk.directory_exists(parent_of(path))) return fail(IoError::not_found);
  auto& names = disk.volatile_names();
  auto it = names.find(path);
  InodePtr inode;
  if (it != names.end()) {
    if (mode == runtime::OpenMode::create_exclusive) return fail(IoError::exists);
    inode = it->second;
  } else {
    if (mode == runtime::OpenMode::read_write) return fail(IoError::not_found);
    inode = disk.create_file(path);
  }
  VERIFY(inode != nullptr);
  VERIFY(disk.volatile_names().at(path) == inode);
  return std::unique_ptr<runtime::File>(std::make_unique<SimFile>(disk, std::move(inode)));
}

IoResult<void> SimDisk::remove(const std::string& path) {
  DiskModel& disk = state_->model;
  if (!valid_path(path, false)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.remove", path_hash(path), 0);
  if (disk.directories().contains(path)) {
    // Removing a directory is allowed only when nothing in it, durable or not, remains.
    if (!disk.directory_empty(path)) return fail(IoError::invalid);
    disk.remove_directory(path);
    VERIFY(!disk.directory_exists(path));
    return {};
  }
  if (!disk.volatile_names().contains(path)) return fail(IoError::not_found);
  disk.remove_file(path);
  VERIFY(!disk.volatile_names().contains(path));
  return {};
}

IoResult<void> SimDisk::rename(const std::string& from, const std::string& to) {
  DiskModel& disk = state_->model;
  if (!valid_path(from, false) || !valid_path(to, false)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.rename", path_hash(from), path_hash(to));
  if (disk.directories().contains(from) || disk.directories().contains(to)) {
    return fail(IoError::invalid);
  }
  if (!disk.volatile_names().contains(from)) return fail(IoError::not_found);
  if (!disk.directory_exists(parent_of(to))) return fail(IoError::not_found);
  if (from == to) return {};
  const Inode* moved = disk.volatile_names().at(from).get();
  disk.rename_file(from, to);
  VERIFY(!disk.volatile_names().contains(from));
  VERIFY(disk.volatile_names().at(to).get() == moved);
  return {};
}

IoResult<std::vector<std::string>> SimDisk::list(const std::string& directory) {
  DiskModel& disk = state_->model;
  if (!valid_path(directory, true)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.list", path_hash(directory), 0);
  if (!disk.directory_exists(directory)) return fail(IoError::not_found);
  return disk.list(directory);
}

IoResult<void> SimDisk::make_directories(const std::string& directory) {
  DiskModel& disk = state_->model;
  if (!valid_path(directory, true)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.make_directories", path_hash(directory), 0);
  // Check every ancestor first so that a failure creates nothing.
  for (size_t slash = 0; slash != std::string::npos;) {
    slash = directory.find('/', slash + 1);
    const std::string ancestor = directory.substr(0, slash);
    if (disk.file_entry_anywhere(ancestor)) return fail(IoError::exists);
  }
  for (size_t slash = 0; slash != std::string::npos;) {
    slash = directory.find('/', slash + 1);
    if (!directory.empty()) disk.directories().insert(directory.substr(0, slash));
  }
  VERIFY(disk.directory_exists(directory));
  return {};
}

IoResult<void> SimDisk::sync_directory(const std::string& directory) {
  DiskModel& disk = state_->model;
  if (!valid_path(directory, true)) return fail(IoError::invalid);
  disk.suspend_for_sync("disk.sync_directory", path_hash(directory));
  if (!disk.directory_exists(directory)) return fail(IoError::not_found);
  if (disk.fault_fires(disk.faults().sync_error, "disk.sync_error")) return fail(IoError::io);
  disk.persist_directory(directory);
  return {};
}

IoResult<bool> SimDisk::exists(const std::string& path) {
  DiskModel& disk = state_->model;
  if (!valid_path(path, true)) return fail(IoError::invalid);
  disk.suspend_for_operation("disk.exists", path_hash(path), 0);
  return disk.directory_exists(path) || disk.volatile_names().contains(path);
}

void SimDisk::crash() { state_->model.crash(); }

void SimDisk::set_faults_active(bool active) { state_->model.set_faults_active(active); }

uint64_t SimDisk::used_bytes() const { return state_->model.used_bytes(); }

uint64_t SimDisk::durable_digest() const { return state_->model.durable_digest(); }

std::vector<std::string> SimDisk::peek_list(const std::string& directory) const {
  const DiskModel& disk = state_->model;
  if (!disk.directory_exists(directory)) return {};
  return disk.list(directory);
}

std::optional<std::vector<uint8_t>> SimDisk::peek(const std::string& path) const {
  const Namespace& names = state_->model.volatile_names();
  auto it = names.find(path);
  if (it == names.end() || it->second == nullptr) return std::nullopt;
  const std::vector<std::byte>& bytes = it->second->volatile_bytes;
  std::vector<uint8_t> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

}  // namespace weir::sim
