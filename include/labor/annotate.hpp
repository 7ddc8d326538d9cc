#pragma once
/// @file annotate.hpp
/// The annotate module: the Oracle concept, the simulated oracle, the file export/import of a
/// selection round, the persistent label store and the pictures a person answers a query from.

#include "labor/annotate/answers.hpp"
#include "labor/annotate/file_oracle.hpp"
#include "labor/annotate/label_store.hpp"
#include "labor/annotate/oracle.hpp"
#include "labor/annotate/render.hpp"
#include "labor/annotate/simulated_oracle.hpp"
