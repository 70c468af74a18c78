// DetailsPane: the facts about the selected node, or about the checkpoint when nothing is selected.
//
// Two columns of "label: value" rows under a title: what the node is (key path, kind, dtype,
// shape, sizes, value of a scalar or string, its custom metadata: HDF5 attributes, Orbax
// metadata) and where its bytes live (format, file, location, codecs, chunk shape, stored bytes
// and compression ratio, sharding). Values are selectable, wrap at any width (long key paths and
// file names break after '/', '_', '.' and inside long runs) and the whole pane scrolls, so
// nothing is clipped at the default width. Reads only metadata, never array data.
//
// Two ways to show a node:
//  - showNode(node, path) is the simple, blocking one: it calls ArraySource::storage() (which for
//    zarr lists the array's chunk sizes in its store, i.e. reads directories or an OCDBT
//    B+tree) and loads a lazy scalar's value, on the calling thread.
//  - showNode(node, path, storage, storedBytes) never touches the disk: the caller passes what it
//    computed off the GUI thread (storage() of the array, the stored size from its rollups) or
//    nullopt for "not known yet", shown as "computing…"; setStorage() / setStoredBytes() fill the
//    gaps later, as setScalarValue() does for a lazy scalar (an Orbax 0-d array) whose value is
//    not read here.
// Sharding: for a leaf split into several shards (ckpt/core/sharding.h: a multi-process Orbax
// save), the Sharding row says how — shardingText(), which reads the format's sharding record;
// the blocking showNode() computes it, the non-blocking one waits for setSharding(). Attributes
// whose key contains "sharding" are shown as a Sharding row too (zarr's own sharding_indexed
// codec is listed under Codecs). Under the facts, a small picture (previews/shard_picture.h)
// shows which process wrote which block, with a legend: shardPicture(), likewise computed by
// the blocking showNode() and handed to the non-blocking one by setShardPicture().
//
// Ownership: child widgets are owned by Qt; the shown node is shared. GUI thread only.
#pragma once

#include <QList>
#include <QPair>
#include <QString>
#include <QWidget>
#include <cstdint>
#include <optional>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpoint.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"
#include "previews/shard_picture.h"

class QTextBrowser;

namespace ckpt::ui {

class DetailsPane final : public QWidget {
    Q_OBJECT

public:
    using Fields = QList<QPair<QString, QString>>;

    explicit DetailsPane(QWidget* parent = nullptr);

    // Blocking: computes storage() (and a lazy scalar's value) on this thread. See the header.
    void showNode(const NodePtr& node, const KeyPath& path);
    // Non-blocking: `storage` is node->array()->storage() computed by the caller off the GUI
    // thread (nullopt: "computing…"; ignored for non-arrays); `storedBytes`, when given, is the
    // node's (or subtree's) size on disk and overrides storage->storedBytes.
    // `rollup` gives a container's totals (ckpt::computeRollups); without it a container's
    // totals read "computing…" instead of walking its subtree here.
    void showNode(const NodePtr& node, const KeyPath& path, std::optional<StorageInfo> storage,
                  std::optional<std::uint64_t> storedBytes = std::nullopt,
                  std::optional<NodeRollup> rollup = std::nullopt);
    // Late results for the non-blocking showNode(); ignored unless `node` is still shown.
    void setStorage(const NodePtr& node, const StorageInfo& storage);
    void setStoredBytes(const NodePtr& node, std::uint64_t storedBytes);
    // A lazy scalar's value (node->loadScalar(), called off the GUI thread by the caller).
    void setScalarValue(const NodePtr& node, const Result<Scalar>& value);
    // shardingText() of the shown array, computed off the GUI thread by the caller.
    void setSharding(const NodePtr& node, const std::optional<QString>& sharding);
    // shardPicture() of the shown array, computed off the GUI thread by the caller.
    void setShardPicture(const NodePtr& node, const std::optional<ShardPicture>& picture);

    // The Sharding row of an array split into several shards: "P('x', None) on mesh {'x': 4},
    // 4 shards of (2, 6); the item was written by 2 processes", or "unreadable: …" when its
    // record is damaged; nullopt for an array in one piece or without a sharding record. May
    // read the disk (the `_sharding` file, the per-process databases): call it off the GUI
    // thread. Thread-safe.
    static std::optional<QString> shardingText(const ArraySource& source);
    // The picture of which process wrote which block (drawShardPicture() of the full listing),
    // shown under the facts; nullopt as for shardingText() or when the listing is unreadable.
    // Reads the disk like shardingText(): call it off the GUI thread. Thread-safe.
    static std::optional<ShardPicture> shardPicture(const ArraySource& source);
    // The picture shown now (null when none), for tests.
    QImage shownShardPicture() const;

    void showCheckpoint(const Checkpoint& checkpoint, const TreeSummary& summary);
    // Shows only `hint` (e.g. "Open a checkpoint…").
    void showHint(const QString& hint);

    QString title() const;
    // Every shown row as "Label: value", one per line, left column first (for tests and copying).
    QString fieldsText() const;
    // The value of the first row labelled `label` (without the colon), or a null QString.
    QString fieldValue(const QString& label) const;
    // The read-only rich-text view that shows everything (wraps, scrolls, selects).
    QTextBrowser* textView() const { return m_text; }

    // `text` with zero-width spaces after '/', '_', '.', ',', ':' and inside runs of more than
    // 24 characters without a break, so a word-wrapped label can break it anywhere it must.
    static QString breakable(const QString& text);

private:
    void render();
    void setContent(const QString& title, const QString& leftHeading, const Fields& left,
                    const QString& rightHeading, const Fields& right,
                    const ShardPicture* picture = nullptr);
    static QString formHtml(const QString& heading, const Fields& fields);

    // The node shown by showNode(), and what is known about its storage.
    NodePtr m_node;
    KeyPath m_path;
    bool m_blocking = false;
    std::optional<StorageInfo> m_storage;
    std::optional<std::uint64_t> m_storedBytes;
    std::optional<NodeRollup> m_rollup;
    std::optional<Result<Scalar>> m_scalarValue;
    std::optional<QString> m_sharding;  // the non-blocking showNode()'s, once known
    std::optional<ShardPicture> m_shardPicture;

    QTextBrowser* m_text = nullptr;
    QString m_titleText;
    Fields m_left;
    Fields m_right;
};

}  // namespace ckpt::ui
