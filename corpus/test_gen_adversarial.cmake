# ctest script: checks that bsdelta-gen-adversarial KIND is deterministic and rejects bad input.
# Inputs: GEN (the program), KIND, DIR (scratch folder).
file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR})

function(gen size seed tag)
  execute_process(COMMAND ${GEN} ${KIND} ${size} ${DIR}/${tag}.old ${DIR}/${tag}.new ${seed}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${GEN} ${KIND} ${size} ... ${seed} exited with ${rc}")
  endif()
endfunction()

gen(300k 7 a)
gen(300k 7 b)
gen(300k 8 c)
foreach(f old new)
  file(SHA256 ${DIR}/a.${f} ha)
  file(SHA256 ${DIR}/b.${f} hb)
  file(SHA256 ${DIR}/c.${f} hc)
  if(NOT ha STREQUAL hb)
    message(FATAL_ERROR "${KIND}: two runs with seed 7 differ (${f})")
  endif()
  if(ha STREQUAL hc)
    message(FATAL_ERROR "${KIND}: seeds 7 and 8 give the same ${f}")
  endif()
endforeach()
file(SIZE ${DIR}/a.old old_size)
if(NOT old_size EQUAL 307200)
  message(FATAL_ERROR "${KIND}: old is ${old_size} bytes, expected 307200")
endif()
file(SHA256 ${DIR}/a.old ho)
file(SHA256 ${DIR}/a.new hn)
if(ho STREQUAL hn)
  message(FATAL_ERROR "${KIND}: old and new are identical")
endif()

# Edge sizes must work too.
gen(0 1 zero)
gen(1 1 one)

# Bad arguments: non-zero exit and no output file.
foreach(args "${KIND};12x;${DIR}/bad.old;${DIR}/bad.new" "${KIND};2G;${DIR}/bad.old;${DIR}/bad.new"
             "nosuchkind;1k;${DIR}/bad.old;${DIR}/bad.new" "${KIND};1k;${DIR}/bad.old;${DIR}/bad.new;-1")
  execute_process(COMMAND ${GEN} ${args} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0 OR EXISTS ${DIR}/bad.old)
    message(FATAL_ERROR "${KIND}: bad arguments '${args}' were accepted")
  endif()
endforeach()
# NEW_OUT unwritable: non-zero exit, and OLD_OUT (already written) is removed again.
execute_process(COMMAND ${GEN} ${KIND} 1k ${DIR}/x.old ${DIR}/no/such/dir/x.new
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc EQUAL 0 OR EXISTS ${DIR}/x.old)
  message(FATAL_ERROR "${KIND}: a failed write was not reported or left a partial pair")
endif()
file(REMOVE_RECURSE ${DIR})
