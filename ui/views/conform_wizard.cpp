#include "views/conform_wizard.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <QWizardPage>
#include <utility>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/format.h"
#include "edit/edit_dialogs.h"
#include "models/diff_tree_model.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

constexpr int kPlanDelayMs = 200;
// Lines of a preflight list shown before "… and N more".
constexpr std::size_t kListedKeys = 50;

const std::pair<FillFrom, const char*> kFills[] = {
    {FillFrom::kReference, QT_TRANSLATE_NOOP("ConformWizard", "the reference's values")},
    {FillFrom::kZeros, QT_TRANSLATE_NOOP("ConformWizard", "zeros")},
    {FillFrom::kConstant, QT_TRANSLATE_NOOP("ConformWizard", "a constant")},
    {FillFrom::kNone, QT_TRANSLATE_NOOP("ConformWizard", "nowhere (missing keys are errors)")},
};

QString keyText(const KeyPath& path) { return toQString(formatKeyPath(path)); }

QString describePreflight(const Preflight& p, const QString& sourceName,
                          const QString& referenceName) {
    QStringList lines;
    switch (p.outcome) {
        case PreflightOutcome::kExact:
            lines.append(ConformWizard::tr("Restoring %1 into %2 would be exact: same keys, "
                                           "kinds, dtypes and shapes.")
                             .arg(sourceName, referenceName));
            break;
        case PreflightOutcome::kExtraKeys:
            lines.append(ConformWizard::tr("Restoring %1 into %2 would silently drop keys the "
                                           "reference lacks.")
                             .arg(sourceName, referenceName));
            break;
        case PreflightOutcome::kMissingKeys:
            lines.append(ConformWizard::tr("Restoring %1 into %2 would need defaults for keys "
                                           "the source lacks.")
                             .arg(sourceName, referenceName));
            break;
        case PreflightOutcome::kMismatch:
            lines.append(ConformWizard::tr("Restoring %1 into %2 would fail: a kind, dtype or "
                                           "shape differs.")
                             .arg(sourceName, referenceName));
            break;
    }
    lines.append(ConformWizard::tr("%1 matched.").arg(
        countedNoun(p.leavesMatched, ConformWizard::tr("leaf"), ConformWizard::tr("leaves"))));
    const auto section = [&lines](const QString& title, const QStringList& items) {
        if (items.isEmpty()) return;
        lines.append(QString());
        lines.append(title.arg(items.size()));
        for (qsizetype i = 0; i < items.size() && static_cast<std::size_t>(i) < kListedKeys; ++i) {
            lines.append(QStringLiteral("  ") + items[i]);
        }
        if (static_cast<std::size_t>(items.size()) > kListedKeys) {
            lines.append(ConformWizard::tr("  \u2026 and %1 more")
                             .arg(static_cast<std::size_t>(items.size()) - kListedKeys));
        }
    };
    QStringList extra;
    for (const DiffEntry& e : p.extra) {
        extra.append(QStringLiteral("%1  (%2)").arg(keyText(e.path),
                                                    e.a ? DiffTreeModel::sideText(*e.a) : QString()));
    }
    QStringList missing;
    for (const MissingKey& m : p.missing) {
        missing.append(QStringLiteral("%1  (%2%3)")
                           .arg(keyText(m.path), DiffTreeModel::sideText(m.ref),
                                m.hasDefault ? ConformWizard::tr(", the reference has values")
                                             : QString()));
    }
    QStringList mismatches;
    for (const DiffEntry& e : p.mismatches) {
        mismatches.append(QStringLiteral("%1  %2: %3 \u2192 %4")
                              .arg(keyText(e.path), DiffTreeModel::changeText(e.change),
                                   e.a ? DiffTreeModel::sideText(*e.a) : QString(),
                                   e.b ? DiffTreeModel::sideText(*e.b) : QString()));
    }
    section(ConformWizard::tr("Only in the source (%1):"), extra);
    section(ConformWizard::tr("Missing from the source (%1):"), missing);
    section(ConformWizard::tr("Mismatched (%1):"), mismatches);
    return lines.join(QLatin1Char('\n'));
}

}  // namespace

// ---- Pages ------------------------------------------------------------------------------------

class ConformWizard::ReferencePage final : public QWizardPage {
public:
    explicit ReferencePage(ConformWizard* wizard) : m_wizard(wizard) {}
    bool isComplete() const override { return m_wizard->m_referenceOk && !m_wizard->m_loading; }

private:
    ConformWizard* m_wizard;
};

class ConformWizard::RulesPage final : public QWizardPage {
public:
    explicit RulesPage(ConformWizard* wizard) : m_wizard(wizard) {}
    bool isComplete() const override { return m_wizard->m_plan && !m_wizard->m_planning; }
    void initializePage() override { m_wizard->replan(); }

private:
    ConformWizard* m_wizard;
};

class ConformWizard::ApplyPage final : public QWizardPage {
public:
    explicit ApplyPage(ConformWizard* wizard) : m_wizard(wizard) {}
    void initializePage() override {
        const ConformPlan* plan = m_wizard->plan();
        if (!plan) return;
        m_wizard->m_applySummary->setText(
            ConformWizard::tr("Finish applies %1 to %2 as one step you can undo (Edit › Undo). "
                              "The result restores into %3 exactly. Save it with File › Save "
                              "As (Orbax, Flax, HDF5, safetensors, npz), or save the plan as a "
                              "recipe that `ckpt apply` replays on the next checkpoint of the "
                              "run.")
                .arg(countedNoun(plan->steps.size(), ConformWizard::tr("edit"),
                                 ConformWizard::tr("edits")),
                     m_wizard->m_sourceName, m_wizard->referenceName()));
    }

private:
    ConformWizard* m_wizard;
};

// ---- Wizard -----------------------------------------------------------------------------------

struct ConformWizard::Loaded {
    Result<NodePtr> reference = internalError("not run");
    std::vector<std::string> steps;
    std::optional<std::string> step;
    std::optional<Preflight> preflight;
};

ConformWizard::ConformWizard(NodePtr source, QString sourceName, QWidget* parent)
    : QWizard(parent), m_source(std::move(source)), m_sourceName(std::move(sourceName)) {
    setWindowTitle(tr("Conform to Reference"));
    setWizardStyle(QWizard::ClassicStyle);
    setOption(QWizard::NoBackButtonOnStartPage);
    m_planTimer = new QTimer(this);
    m_planTimer->setSingleShot(true);
    m_planTimer->setInterval(kPlanDelayMs);
    connect(m_planTimer, &QTimer::timeout, this, &ConformWizard::replan);
    setPage(kReferencePage, createReferencePage());
    setPage(kRulesPage, createRulesPage());
    setPage(kApplyPage, createApplyPage());
    setStartId(kReferencePage);
    resize(900, 680);
}

ConformWizard::~ConformWizard() {
    if (m_cancel) m_cancel->cancel();
}

QWizardPage* ConformWizard::createReferencePage() {
    auto* page = new ReferencePage(this);
    m_referencePage = page;
    page->setTitle(tr("Reference"));
    page->setSubTitle(tr("The structure %1 should restore into: a checkpoint your new code "
                         "writes, or a structure file (`ckpt skeleton`).")
                          .arg(m_sourceName));
    m_referenceEdit = new QLineEdit(page);
    m_referenceEdit->setPlaceholderText(tr("Path of a checkpoint, run directory or structure file"));
    connect(m_referenceEdit, &QLineEdit::editingFinished, this, [this] {
        if (m_referenceEdit->text() != m_referencePath) setReferencePath(m_referenceEdit->text());
    });
    auto* browseFile = new QPushButton(tr("&File\u2026"), page);
    connect(browseFile, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Reference Checkpoint"));
        if (!path.isEmpty()) setReferencePath(path);
    });
    auto* browseDirectory = new QPushButton(tr("&Directory\u2026"), page);
    connect(browseDirectory, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Reference Checkpoint"));
        if (!path.isEmpty()) setReferencePath(path);
    });
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(m_referenceEdit, 1);
    pathRow->addWidget(browseFile);
    pathRow->addWidget(browseDirectory);

    m_stepCombo = new QComboBox(page);
    m_stepCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    connect(m_stepCombo, &QComboBox::activated, this, [this](int index) {
        const std::string step = m_stepCombo->itemData(index).toString().toStdString();
        if (step != m_referenceStep) setReferencePath(m_referencePath, step);
    });
    auto* stepRow = new QHBoxLayout;
    stepRow->addWidget(new QLabel(tr("Step:"), page));
    stepRow->addWidget(m_stepCombo);
    stepRow->addStretch(1);
    auto* stepWidget = new QWidget(page);
    stepWidget->setLayout(stepRow);
    stepRow->setContentsMargins(0, 0, 0, 0);
    stepWidget->setObjectName(QStringLiteral("stepRow"));
    stepWidget->hide();

    m_referenceStatus = new QLabel(page);
    m_referenceStatus->setWordWrap(true);
    m_preflightView = new QPlainTextEdit(page);
    m_preflightView->setReadOnly(true);
    m_preflightView->setLineWrapMode(QPlainTextEdit::NoWrap);

    auto* layout = new QVBoxLayout(page);
    layout->addLayout(pathRow);
    layout->addWidget(stepWidget);
    layout->addWidget(m_referenceStatus);
    layout->addWidget(m_preflightView, 1);
    return page;
}

QWizardPage* ConformWizard::createRulesPage() {
    auto* page = new RulesPage(this);
    m_rulesPage = page;
    page->setTitle(tr("Rules"));
    page->setSubTitle(tr("Rename, drop, fill and cast until the plan below restores exactly. "
                         "Rules are regular expressions over a whole key path "
                         "(params/Dense_0) or one key (Dense_0); $1 or \\1 in the replacement "
                         "insert captures."));

    m_rulesTable = new QTableWidget(0, 2, page);
    m_rulesTable->setHorizontalHeaderLabels({tr("Pattern"), tr("Replacement")});
    m_rulesTable->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_rulesTable->verticalHeader()->hide();
    m_rulesTable->setMinimumHeight(80);
    m_rulesTable->setMaximumHeight(120);
    connect(m_rulesTable, &QTableWidget::itemChanged, this, &ConformWizard::schedulePlan);
    auto* addRule = new QPushButton(tr("&Add Rule"), page);
    connect(addRule, &QPushButton::clicked, this, [this] {
        addRenameRule(QString(), QString());
        m_rulesTable->editItem(m_rulesTable->item(m_rulesTable->rowCount() - 1, 0));
    });
    auto* removeRule = new QPushButton(tr("&Remove Rule"), page);
    connect(removeRule, &QPushButton::clicked, this, [this] {
        const int row = m_rulesTable->currentRow();
        if (row < 0) return;
        m_rulesTable->removeRow(row);
        schedulePlan();
    });
    auto* ruleButtons = new QVBoxLayout;
    ruleButtons->addWidget(addRule);
    ruleButtons->addWidget(removeRule);
    ruleButtons->addStretch(1);
    auto* rules = new QHBoxLayout;
    rules->addWidget(m_rulesTable, 1);
    rules->addLayout(ruleButtons);

    m_dropExtra = new QCheckBox(tr("Drop keys the reference lacks"), page);
    m_dropExtra->setChecked(true);
    m_fillCombo = new QComboBox(page);
    for (const auto& [fill, text] : kFills) m_fillCombo->addItem(tr(text), static_cast<int>(fill));
    m_constantEdit = new QLineEdit(QStringLiteral("0"), page);
    m_constantEdit->setMaximumWidth(120);
    m_constantEdit->setEnabled(false);
    m_cast = new QCheckBox(tr("Cast dtypes to the reference's"), page);
    m_cast->setChecked(true);
    connect(m_dropExtra, &QCheckBox::toggled, this, &ConformWizard::schedulePlan);
    connect(m_cast, &QCheckBox::toggled, this, &ConformWizard::schedulePlan);
    connect(m_constantEdit, &QLineEdit::textChanged, this, &ConformWizard::schedulePlan);
    connect(m_fillCombo, &QComboBox::currentIndexChanged, this, [this] {
        m_constantEdit->setEnabled(options().fill == FillFrom::kConstant);
        schedulePlan();
    });
    auto* fillRow = new QHBoxLayout;
    fillRow->addWidget(new QLabel(tr("Fill missing keys from"), page));
    fillRow->addWidget(m_fillCombo);
    fillRow->addWidget(m_constantEdit);
    fillRow->addStretch(1);
    auto* optionsBox = new QVBoxLayout;
    optionsBox->addWidget(m_dropExtra);
    optionsBox->addLayout(fillRow);
    optionsBox->addWidget(m_cast);

    m_suggestions = new QListWidget(page);
    m_suggestions->setMinimumHeight(60);
    m_suggestions->setMaximumHeight(110);
    connect(m_suggestions, &QListWidget::itemChanged, this, [this](QListWidgetItem* item) {
        const int row = m_suggestions->row(item);
        setSuggestionAccepted(row, item->checkState() == Qt::Checked);
    });

    m_planStatus = new QLabel(page);
    m_planStatus->setWordWrap(true);
    m_planView = new QPlainTextEdit(page);
    m_planView->setReadOnly(true);
    m_planView->setLineWrapMode(QPlainTextEdit::NoWrap);

    auto* layout = new QVBoxLayout(page);
    layout->addWidget(new QLabel(tr("<b>Rename rules</b>"), page));
    layout->addLayout(rules);
    layout->addLayout(optionsBox);
    layout->addWidget(new QLabel(tr("<b>Suggested renames</b> (check to accept)"), page));
    layout->addWidget(m_suggestions);
    layout->addWidget(new QLabel(tr("<b>Plan</b>"), page));
    layout->addWidget(m_planStatus);
    layout->addWidget(m_planView, 1);
    return page;
}

QWizardPage* ConformWizard::createApplyPage() {
    auto* page = new ApplyPage(this);
    page->setTitle(tr("Apply"));
    page->setFinalPage(true);
    m_applySummary = new QLabel(page);
    m_applySummary->setWordWrap(true);
    auto* saveRecipeButton = new QPushButton(tr("Save Plan as &Recipe\u2026"), page);
    connect(saveRecipeButton, &QPushButton::clicked, this, &ConformWizard::saveRecipe);
    auto* layout = new QVBoxLayout(page);
    layout->addWidget(m_applySummary);
    layout->addWidget(saveRecipeButton, 0, Qt::AlignLeft);
    layout->addStretch(1);
    return page;
}

QString ConformWizard::referenceName() const {
    QString name = QFileInfo(m_referencePath).fileName();
    if (name.isEmpty()) name = m_referencePath;
    if (m_referenceStep) name += tr(" (step %1)").arg(toQString(*m_referenceStep));
    return name;
}

QString ConformWizard::preflightText() const { return m_preflightText; }

void ConformWizard::setReferencePath(const QString& path, std::optional<std::string> step) {
    m_referencePath = path;
    m_referenceStep = std::move(step);
    if (m_referenceEdit->text() != path) m_referenceEdit->setText(path);
    m_reference = nullptr;
    m_referenceOk = false;
    m_plan.reset();
    m_loading = true;
    m_preflightText.clear();
    m_preflightView->clear();
    m_referenceStatus->setText(tr("Opening %1\u2026").arg(path));
    emit m_referencePage->completeChanged();
    const std::uint64_t generation = ++m_loadGeneration;
    runInBackground(
        this,
        [fsPath = toFsPath(path), requested = m_referenceStep, source = m_source] {
            Loaded loaded;
            if (isStructureFile(fsPath)) {
                if (requested) {
                    loaded.reference = invalidArgumentError(
                        "'" + fsPath.string() + "' is a structure file: it has no steps");
                    return loaded;
                }
                loaded.reference = loadStructure(fsPath);
            } else {
                OpenOptions options;
                options.step = requested;
                auto opened = openCheckpoint(fsPath, options);
                if (!opened.isOk()) {
                    loaded.reference = opened.status();
                    return loaded;
                }
                for (const StepEntry& entry : opened->steps) {
                    if (entry.complete) loaded.steps.push_back(entry.step);
                }
                loaded.step = opened->step;
                loaded.reference = opened->tree
                                       ? Result<NodePtr>(opened->tree)
                                       : Result<NodePtr>(internalError(
                                             "the reader returned no tree for " + fsPath.string()));
            }
            if (loaded.reference.isOk()) {
                auto checked = preflight(source, *loaded.reference);
                if (checked.isOk()) loaded.preflight = std::move(checked).value();
                else loaded.reference = checked.status();
            }
            return loaded;
        },
        [this, generation](Loaded loaded) { finishLoading(generation, std::move(loaded)); });
}

void ConformWizard::finishLoading(std::uint64_t generation, Loaded loaded) {
    if (generation != m_loadGeneration) return;
    m_loading = false;
    auto* stepRow = m_referencePage->findChild<QWidget*>(QStringLiteral("stepRow"));
    if (!loaded.reference.isOk()) {
        m_preflightText = statusToUserText(loaded.reference.status());
        m_referenceStatus->setText(tr("<span style='color:#c0392b'>%1</span>")
                                       .arg(m_preflightText.toHtmlEscaped()));
        stepRow->hide();
        emit m_referencePage->completeChanged();
        emit referenceLoaded();
        return;
    }
    m_reference = *loaded.reference;
    m_referenceOk = true;
    if (loaded.step) m_referenceStep = loaded.step;
    m_referenceSteps = std::move(loaded.steps);
    m_stepCombo->clear();
    for (const std::string& step : m_referenceSteps) {
        m_stepCombo->addItem(toQString(step), toQString(step));
        if (m_referenceStep && step == *m_referenceStep) {
            m_stepCombo->setCurrentIndex(m_stepCombo->count() - 1);
        }
    }
    stepRow->setVisible(m_referenceSteps.size() > 1);
    m_preflightText = describePreflight(*loaded.preflight, m_sourceName, referenceName());
    m_referenceStatus->setText(tr("Reference: %1").arg(referenceName().toHtmlEscaped()));
    m_preflightView->setPlainText(m_preflightText);
    emit m_referencePage->completeChanged();
    emit referenceLoaded();
    if (currentId() == kRulesPage) schedulePlan();
}

void ConformWizard::addRenameRule(const QString& pattern, const QString& replacement) {
    const int row = m_rulesTable->rowCount();
    {
        const QSignalBlocker block(m_rulesTable);
        m_rulesTable->insertRow(row);
        m_rulesTable->setItem(row, 0, new QTableWidgetItem(pattern));
        m_rulesTable->setItem(row, 1, new QTableWidgetItem(replacement));
    }
    if (!pattern.isEmpty()) schedulePlan();
}

QString ConformWizard::optionsError() const {
    for (int row = 0; row < m_rulesTable->rowCount(); ++row) {
        const QTableWidgetItem* pattern = m_rulesTable->item(row, 0);
        const QTableWidgetItem* replacement = m_rulesTable->item(row, 1);
        if (!pattern || pattern->text().isEmpty()) continue;
        const RenameRule rule{pattern->text().toStdString(),
                              replacement ? replacement->text().toStdString() : std::string()};
        auto parsed = parseRenameRule(formatRenameRule(rule));
        if (!parsed.isOk()) {
            return tr("Rule %1: %2").arg(row + 1).arg(statusToUserText(parsed.status()));
        }
    }
    if (options().fill == FillFrom::kConstant && !parseEditValue(m_constantEdit->text())) {
        return tr("The constant '%1' is not a number (an integer, a float, true, false, nan, "
                  "inf).")
            .arg(m_constantEdit->text());
    }
    return {};
}

ConformOptions ConformWizard::options() const {
    ConformOptions result;
    for (int row = 0; row < m_rulesTable->rowCount(); ++row) {
        const QTableWidgetItem* pattern = m_rulesTable->item(row, 0);
        const QTableWidgetItem* replacement = m_rulesTable->item(row, 1);
        if (!pattern || pattern->text().isEmpty()) continue;
        result.renames.push_back({pattern->text().toStdString(),
                                  replacement ? replacement->text().toStdString() : std::string()});
    }
    for (const Suggestion& s : m_accepted) result.renames.push_back(exactRenameRule(s.from, s.to));
    result.dropExtra = m_dropExtra->isChecked();
    result.fill = static_cast<FillFrom>(m_fillCombo->currentData().toInt());
    result.castToReference = m_cast->isChecked();
    if (const auto constant = parseEditValue(m_constantEdit->text())) result.constant = *constant;
    return result;
}

void ConformWizard::schedulePlan() {
    if (!m_reference) return;
    m_planTimer->start();
}

void ConformWizard::replan() {
    m_planTimer->stop();
    if (!m_reference) return;
    if (m_cancel) m_cancel->cancel();
    const std::uint64_t generation = ++m_planGeneration;
    m_plan.reset();
    const QString problem = optionsError();
    if (!problem.isEmpty()) {
        m_planning = false;
        m_planError = problem;
        showPlan();
        emit planFinished();
        return;
    }
    m_planning = true;
    m_planError.clear();
    m_planStatus->setText(tr("Planning\u2026"));
    emit m_rulesPage->completeChanged();
    m_cancel = std::make_shared<CancelToken>();
    runInBackground(
        this,
        [source = m_source, reference = m_reference, opts = options(), cancel = m_cancel] {
            return planConform(source, reference, opts, cancel.get());
        },
        [this, generation](Result<ConformPlan> planned) {
            if (generation != m_planGeneration) return;
            m_planning = false;
            if (planned.isOk()) {
                m_plan = std::move(planned).value();
            } else {
                m_planError = statusToUserText(planned.status());
            }
            showPlan();
            emit planFinished();
        });
}

void ConformWizard::showPlan() {
    emit m_rulesPage->completeChanged();
    if (!m_plan) {
        m_planStatus->setText(
            tr("<span style='color:#c0392b'>%1</span>").arg(m_planError.toHtmlEscaped()));
        m_planView->clear();
        return;
    }
    if (m_plan->steps.empty()) {
        m_planStatus->setText(tr("Nothing to do: %1 already restores into %2 exactly.")
                                  .arg(m_sourceName, referenceName()));
    } else {
        QString text = tr("%1; the result restores into %2 exactly.")
                           .arg(countedNoun(m_plan->steps.size(), tr("edit"), tr("edits")),
                                referenceName());
        if (!m_plan->suggestions.empty()) {
            // Dropping a source key and filling its look-alike loses the source's values.
            text += tr(" <b>Check the suggested renames</b>: %1 would otherwise be dropped "
                       "while a similar reference key is filled.")
                        .arg(countedNoun(m_plan->suggestions.size(), tr("source key"),
                                         tr("source keys")));
        }
        m_planStatus->setText(text);
    }
    QStringList lines;
    for (const std::string& note : m_plan->notes) lines.append(toQString(note));
    m_planView->setPlainText(lines.join(QLatin1Char('\n')));
    rebuildSuggestions();
}

void ConformWizard::rebuildSuggestions() {
    const QSignalBlocker block(m_suggestions);
    m_suggestions->clear();
    const auto addItem = [this](const Suggestion& s, bool accepted) {
        auto* item = new QListWidgetItem(
            tr("%1 \u2192 %2   (%3%, %4)")
                .arg(keyText(s.from), keyText(s.to))
                .arg(static_cast<int>(s.score * 100 + 0.5))
                .arg(toQString(s.reason)),
            m_suggestions);
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
        item->setCheckState(accepted ? Qt::Checked : Qt::Unchecked);
    };
    for (const Suggestion& s : m_accepted) addItem(s, true);
    if (m_plan) {
        for (const Suggestion& s : m_plan->suggestions) addItem(s, false);
    }
}

void ConformWizard::setSuggestionAccepted(int row, bool accepted) {
    if (row < 0) return;
    const auto index = static_cast<std::size_t>(row);
    if (index < m_accepted.size()) {
        if (!accepted) m_accepted.erase(m_accepted.begin() + row);
    } else if (m_plan && index - m_accepted.size() < m_plan->suggestions.size()) {
        if (accepted) m_accepted.push_back(m_plan->suggestions[index - m_accepted.size()]);
    } else {
        return;
    }
    rebuildSuggestions();
    replan();
}

void ConformWizard::saveRecipe() {
    if (!m_plan) return;
    const QString target = QFileDialog::getSaveFileName(this, tr("Save Conform Recipe"),
                                                        QStringLiteral("conform-recipe.json"),
                                                        tr("Edit recipe (*.json)"));
    if (target.isEmpty()) return;
    auto json = recipeToJson(m_plan->steps);
    QSaveFile file(target);
    if (!json.isOk() || !file.open(QIODevice::WriteOnly) ||
        file.write(json->data(), static_cast<qint64>(json->size())) !=
            static_cast<qint64>(json->size()) ||
        !file.commit()) {
        QMessageBox::warning(this, tr("Save Recipe"),
                             json.isOk() ? tr("Could not write %1: %2").arg(target, file.errorString())
                                         : statusToUserText(json.status()));
    }
}

}  // namespace ckpt::ui
