// ConformWizard: Edit › Conform to Reference… — makes a tab's (edited) tree restore exactly into
// another structure, with ckpt::planConform doing the work (core/conform.h).
//
// Three pages:
//  1. Reference: a checkpoint file or directory (a step of a run), or a structure file
//     (`ckpt skeleton`). It is opened in the background and the restore preflight is shown:
//     exact, extra keys that would be dropped, missing keys, mismatches.
//  2. Rules: regex rename rules (pattern, replacement with $1/\1), whether keys the reference
//     lacks are dropped, where missing keys are filled from (the reference's values, zeros, a
//     constant, or nowhere), whether dtypes are cast to the reference's. Suggested renames for
//     unmatched keys (same structure, similar name) are listed with a check box: a checked
//     suggestion becomes an exact rename rule (exactRenameRule). Every change re-plans in the
//     background; the plan's steps and notes, or the error naming every key path that cannot be
//     fixed, show below. Next is enabled only for a plan.
//  3. Apply: what will happen; the plan as a recipe can be saved from here.
// The wizard never edits anything itself: on accept, the caller applies plan()->steps (see
// MainWindow::conformCurrent, which applies them to the tab as one undo step).
//
// Background jobs are guarded by generation numbers and cancel tokens; closing the wizard
// cancels them. GUI thread only.
#pragma once

#include <QString>
#include <QWizard>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/conform.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/tree.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QTableWidget;
class QTimer;

namespace ckpt::ui {

class ConformWizard final : public QWizard {
    Q_OBJECT

public:
    enum PageId { kReferencePage, kRulesPage, kApplyPage };

    // Conforms `source` (shown as `sourceName`).
    ConformWizard(NodePtr source, QString sourceName, QWidget* parent = nullptr);
    ~ConformWizard() override;

    // Opens the reference at `path` (and `step` of a run directory) in the background;
    // referenceLoaded() follows. Also what the Browse buttons and the path box do.
    void setReferencePath(const QString& path, std::optional<std::string> step = std::nullopt);
    NodePtr source() const { return m_source; }
    NodePtr reference() const { return m_reference; }
    QString referenceName() const;
    // The reference's preflight, or the error opening it ("" while loading).
    QString preflightText() const;
    bool isLoadingReference() const { return m_loading; }

    // Rules and options (what page 2 shows).
    void addRenameRule(const QString& pattern, const QString& replacement);
    // Checks or unchecks the suggestion listed at `row` of suggestionsList().
    void setSuggestionAccepted(int row, bool accepted);
    ConformOptions options() const;
    // Whether the options parse (the constant, the rules); the problem otherwise.
    QString optionsError() const;

    // The current plan; null while planning or when planning failed (see planError()).
    const ConformPlan* plan() const { return m_plan ? &*m_plan : nullptr; }
    QString planError() const { return m_planError; }
    bool isPlanning() const { return m_planning; }
    // Starts planning now (the page re-plans by itself after every change, debounced).
    void replan();

    QLineEdit* referenceEdit() const { return m_referenceEdit; }
    QComboBox* stepCombo() const { return m_stepCombo; }
    QTableWidget* rulesTable() const { return m_rulesTable; }
    QListWidget* suggestionsList() const { return m_suggestions; }
    QCheckBox* dropExtraBox() const { return m_dropExtra; }
    QComboBox* fillCombo() const { return m_fillCombo; }
    QLineEdit* constantEdit() const { return m_constantEdit; }
    QCheckBox* castBox() const { return m_cast; }
    QPlainTextEdit* planView() const { return m_planView; }

signals:
    void referenceLoaded();  // or failed to load: see preflightText()
    void planFinished();     // planned, or failed: see plan() and planError()

private:
    class ReferencePage;
    class RulesPage;
    class ApplyPage;
    struct Loaded;

    QWizardPage* createReferencePage();
    QWizardPage* createRulesPage();
    QWizardPage* createApplyPage();
    void finishLoading(std::uint64_t generation, Loaded loaded);
    void schedulePlan();
    void showPlan();
    void rebuildSuggestions();
    void saveRecipe();

    NodePtr m_source;
    QString m_sourceName;
    NodePtr m_reference;
    QString m_referencePath;
    std::optional<std::string> m_referenceStep;
    std::vector<std::string> m_referenceSteps;  // steps of a run directory, as written
    QString m_preflightText;
    bool m_loading = false;
    bool m_referenceOk = false;
    std::uint64_t m_loadGeneration = 0;

    std::optional<ConformPlan> m_plan;
    QString m_planError;
    bool m_planning = false;
    std::uint64_t m_planGeneration = 0;
    std::shared_ptr<CancelToken> m_cancel;
    // Accepted suggestions (exact renames), kept while later plans no longer list them.
    std::vector<Suggestion> m_accepted;

    ReferencePage* m_referencePage = nullptr;
    RulesPage* m_rulesPage = nullptr;
    QLineEdit* m_referenceEdit = nullptr;
    QComboBox* m_stepCombo = nullptr;
    QLabel* m_referenceStatus = nullptr;
    QPlainTextEdit* m_preflightView = nullptr;
    QTableWidget* m_rulesTable = nullptr;
    QListWidget* m_suggestions = nullptr;
    QCheckBox* m_dropExtra = nullptr;
    QComboBox* m_fillCombo = nullptr;
    QLineEdit* m_constantEdit = nullptr;
    QCheckBox* m_cast = nullptr;
    QLabel* m_planStatus = nullptr;
    QPlainTextEdit* m_planView = nullptr;
    QLabel* m_applySummary = nullptr;
    QTimer* m_planTimer = nullptr;
};

}  // namespace ckpt::ui
