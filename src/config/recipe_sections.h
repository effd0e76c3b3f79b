// The sections of a distill recipe with their settings tables, visited in file order.
#pragma once

#include "config/recipe.h"

namespace dsla::config {

#define DSLA_SECTION_TABLE(fn, Section, LIST)                            \
  inline const SettingsTable<Section>& fn() {                            \
    using Self = Section;                                                \
    static const SettingsTable<Self> table = {LIST(DSLA_SETTING_ENTRY)}; \
    return table;                                                        \
  }
DSLA_SECTION_TABLE(model_settings_table, ModelSection, DSLA_MODEL_SETTINGS)
DSLA_SECTION_TABLE(data_settings_table, DataSection, DSLA_DATA_SETTINGS)
DSLA_SECTION_TABLE(profile_settings_table, ProfileSection, DSLA_PROFILE_SETTINGS)
DSLA_SECTION_TABLE(distill_settings_table, DistillSection, DSLA_DISTILL_SETTINGS)
DSLA_SECTION_TABLE(run_settings_table, RunSection, DSLA_RUN_SETTINGS)
#undef DSLA_SECTION_TABLE

/// Calls fn(name, section, table) for every section of `recipe` (const or not), in file order.
template <class R, class F>
void for_each_section(R& recipe, F&& fn) {
  fn("model", recipe.model, model_settings_table());
  fn("data", recipe.data, data_settings_table());
  fn("dsla", recipe.dsla, model::dsla_settings_table());
  fn("profile", recipe.profile, profile_settings_table());
  fn("distill", recipe.distill, distill_settings_table());
  fn("run", recipe.run, run_settings_table());
}

}  // namespace dsla::config
