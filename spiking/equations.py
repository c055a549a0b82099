"""Model equations of the E/I network, as Brian2 strings.

Constants (``tau_m``, ``J`` …) come from each object's namespace, filled from the
parameter dataclasses in :mod:`spiking.params` and :mod:`spiking.sleep` by
:mod:`spiking.network`. Variables that a scan may change without recompiling
(learning rates, decay targets, controller thresholds) are state variables, so
that a standalone binary can be re-run with ``device.run(run_args=...)``.

Currents are written as the voltage they would hold the membrane at
(``R * I``), so every synaptic variable is in volt.
"""

from __future__ import annotations

# --------------------------------------------------------------------------
# Neurons

#: LIF neuron with exponential synaptic currents, adaptive threshold, sleep
#: noise and spike counters (excitatory and inhibitory populations).
NEURON_EQS = """
dv/dt = (v_rest - v + ge - gi + I_ext) / tau_m : volt (unless refractory)  # membrane potential
dge/dt = -ge / tau_e : volt              # excitatory synaptic current (as a voltage)
dgi/dt = -gi / tau_i : volt              # inhibitory synaptic current (as a voltage)
da/dt = -a / tau_adapt : volt            # threshold adaptation
I_ext : volt                             # constant external drive (0 in the network)
img_count : integer                          # wake spikes since the last image boundary
sleep_count : integer                    # spikes while sleeping (replay), cumulative
sleeping : 1                             # 1 while the network sleeps (copy of sleeping_ctrl)
plastic : 1                              # 1 while plasticity is on (copy of plastic_ctrl)
stuck : 1                                # 1 while a neuron re-fires every step (sticky sleep, see NEURON_THRESHOLD)
sleeping_ctrl : 1 (linked)               # the controller's flag
plastic_ctrl : 1 (linked)                # the controller's flag
image_done : 1 (linked)                  # 1 on the step after a recorded image ended (controller)
image_start : 1 (linked)                 # 1 on the first step of every image (controller)
reset_state : 1 (linked)                 # 1 on the first step of a presentation that starts from rest
sticky : 1 (linked)                      # 1: a neuron that spikes asleep keeps spiking every step (controller)
sigma : volt (linked)                    # sleep noise per time step (controller)
"""

#: Extra variables of the excitatory neurons: running sums of their incoming
#: plastic weights, kept up to date by every weight change, so that the
#: controller can read the total weight without summing all synapses each step.
EXC_EXTRA_EQS = """
W_inp_exc : 1                            # sum of incoming input->E weights
W_exc_exc : 1                            # sum of incoming E->E weights
W_inh_exc : 1                            # sum of incoming I->E weight magnitudes
"""

#: A neuron fires when v crosses the adaptive threshold, or on every step while
#: it is ``stuck`` (sticky sleep spikes of the reference code: a neuron that
#: spiked during an episode stays "on" for the rest of it; never set unless the
#: controller's ``sticky`` flag is on).
NEURON_THRESHOLD = "v > v_thresh + a or stuck > 0.5"
#: Refractory period as an expression: a stuck neuron is never refractory.
NEURON_REFRACTORY = "t_ref * (1 - stuck)"
NEURON_RESET = """
v = v_reset
a += adapt_increment
img_count += int(sleeping < 0.5)
sleep_count += int(sleeping > 0.5)
stuck = stuck + (1 - stuck) * sticky * int(sleeping > 0.5)
"""
#: Copy of the controller's flags into the neurons, every step after the
#: controller's decision: synapses can read their postsynaptic group's own
#: variables, not the variables it links to.
NEURON_COPY_FLAGS = """
sleeping = sleeping_ctrl
plastic = plastic_ctrl
stuck = stuck * sleeping
img_count = img_count * (1 - image_start * (1 - image_done))
v = v + reset_state * (v_rest - v)
a = a * (1 - reset_state)
ge = ge * (1 - reset_state)
gi = gi * (1 - reset_state)
lastspike = lastspike + reset_state * (-1e4 * second - lastspike)
"""
#: (the last lines: a presentation flagged ``reset`` starts from rest, as a
#: separate frozen run would; the count of an image that is not recorded is cleared at the next
#: image start, recorded images are cleared by IMAGE_END_RESET)
#: Gaussian membrane kick while sleeping, once per time step.
NEURON_NOISE = "v += sleep_noise(sleeping, sigma)"
#: Custom event: a recorded image has ended (its counts are read out).
IMAGE_END_EVENT = "image_done > 0.5"
IMAGE_END_RESET = "img_count = 0"

#: Poisson inputs by time rescaling: each input integrates its rate and spikes
#: when the integral reaches an Exp(1) threshold, which gives an inhomogeneous
#: Poisson process with one random number per spike instead of one per step.
#: The thresholds are *frozen noise*: the n-th threshold of input i during an
#: image is a hash of (run seed, the image's key, i, n) (``input_threshold``),
#: so an image shown with the same key and seed gets the same input spikes
#: wherever it is in the schedule, and the rest of the run uses no random
#: numbers while awake.
INPUT_EQS = """
lam_acc : 1                              # integrated rate since the last spike
lam_next : 1                             # Exp(1) threshold of the next spike
n_draw : 1                               # thresholds drawn during the current image
sleeping : 1 (linked)                    # input is silent while sleeping
stim_on : 1 (linked)                     # 1 while an image is presented, 0 in the rest
stim_t : second (linked)                 # row of the current image in the stimulus table (as a time)
stim_key : 1 (linked)                    # key of the current presentation's input noise
image_start : 1 (linked)                 # 1 on the first step of every image
input_seed : 1 (linked)                  # run seed of the input noise
"""
INPUT_THRESHOLD = "lam_acc >= lam_next"
INPUT_RESET = """
lam_acc -= lam_next
n_draw += 1
lam_next = input_threshold(0.0, 1.0, stim_key, i, n_draw, input_seed)
"""
#: run every step before the thresholds; ``stimulus`` is a TimedArray of rates
#: (Hz), one row per distinct image; a new image starts with fresh thresholds
INPUT_INTEGRATE = """
lam_acc = lam_acc * (1 - image_start)
n_draw = n_draw * (1 - image_start)
lam_next = input_threshold(lam_next, image_start, stim_key, i, n_draw, input_seed)
lam_acc += stimulus(stim_t, i) * dt * stim_on * (1 - sleeping)
"""

# --------------------------------------------------------------------------
# Synapses. ``{W}`` is the running weight-sum variable of the pathway in the
# postsynaptic excitatory group. Every weight change goes through ``dw`` so
# that the running sum follows it exactly.

#: Additive pair STDP with exponential traces (input->E, E->E).
STDP_MODEL = """
w : 1                                    # weight, 0 .. w_max
dapre/dt = -apre / tau_plus : 1 (event-driven)     # presynaptic trace
dapost/dt = -apost / tau_minus : 1 (event-driven)  # postsynaptic trace
eta_plus : 1 (shared)                    # potentiation amplitude
eta_minus : 1 (shared)                   # depression amplitude
w_max : 1 (shared)                       # upper weight bound
w_tgt : 1 (shared)                       # sleep decay target magnitude
lam_tick : 1 (shared)                    # decay exponent per check interval
"""
STDP_ON_PRE = """
ge_post += w * J
apre += 1
dw = plastic_post * (clip(w - eta_minus * apost, 0, w_max) - w)
{W}_post += dw
w += dw
"""
STDP_ON_POST = """
apost += 1
dw = plastic_post * (clip(w + eta_plus * apre, 0, w_max) - w)
{W}_post += dw
w += dw
"""

#: The pair rule of the reference code of arXiv 2601.08447 (``STDPParams.rule
#: = "anti_nearest"``): each spike is paired with the partner's *last* spike
#: only, and the sign is inverted: a presynaptic spike potentiates by
#: ``eta_plus * exp(-(t - t_post)/tau_plus)`` (post-before-pre, and a
#: simultaneous pair), a postsynaptic spike depresses by ``eta_minus *
#: exp(-(t - t_pre)/tau_minus)`` (pre-before-post). The reference code computes
#: the lag from times *since* the last spike but treats them as spike times,
#: which inverts the usual window.
STDP_ANTI_MODEL = """
w : 1                                    # weight, 0 .. w_max
eta_plus : 1 (shared)                    # potentiation amplitude
eta_minus : 1 (shared)                   # depression amplitude
w_max : 1 (shared)                       # upper weight bound
w_tgt : 1 (shared)                       # sleep decay target magnitude
lam_tick : 1 (shared)                    # decay exponent per check interval
"""
STDP_ANTI_ON_PRE = """
ge_post += w * J
dw = plastic_post * (clip(w + eta_plus * exp(-(t - lastspike_post) / tau_plus), 0, w_max) - w)
{W}_post += dw
w += dw
"""
STDP_ANTI_ON_POST = """
dw = plastic_post * (clip(w - eta_minus * exp(-(t - lastspike_pre) / tau_minus) * int(t - lastspike_pre > 0.5 * dt), 0, w_max) - w)
{W}_post += dw
w += dw
"""

#: Inhibitory STDP of Vogels et al. (2011) on weight magnitudes (I->E).
ISTDP_MODEL = """
w : 1                                    # inhibitory weight magnitude, 0 .. w_max
dxpre/dt = -xpre / tau_istdp : 1 (event-driven)    # presynaptic trace
dxpost/dt = -xpost / tau_istdp : 1 (event-driven)  # postsynaptic trace
eta : 1 (shared)                         # learning rate
w_max : 1 (shared)                       # upper bound of the magnitude
w_tgt : 1 (shared)                       # sleep decay target magnitude
lam_tick : 1 (shared)                    # decay exponent per check interval
"""
ISTDP_ON_PRE = """
gi_post += w * J
xpre += 1
dw = plastic_post * (clip(w + eta * (xpost - alpha_istdp), 0, w_max) - w)
{W}_post += dw
w += dw
"""
ISTDP_ON_POST = """
xpost += 1
dw = plastic_post * (clip(w + eta * xpre, 0, w_max) - w)
{W}_post += dw
w += dw
"""

#: Fixed excitatory synapse (E->I).
STATIC_MODEL = "w : 1  # weight"
STATIC_ON_PRE = "ge_post += w * J"

#: Power-law relaxation during sleep, every check interval (``sleep_decay`` is
#: the identity while awake).
DECAY_CODE = """
dw = sleep_decay(w, w_tgt, lam_tick, sleeping_post) - w
{W}_post += dw
w += dw
"""
#: One-off at t = 0: initialise the running weight sums of the excitatory neurons.
INIT_SUM_CODE = "{W}_post += w"

# --------------------------------------------------------------------------
# Controller (one neuron, runs every time step) and meter (one neuron, sums the
# running weight sums every check interval).

METER_EQS = """
W_inp_exc : 1                            # total input->E weight
W_exc_exc : 1                            # total E->E weight
W_inh_exc : 1                            # total I->E weight magnitude
wake_seen : second                       # wake time at the sample (images shown so far x t_image)
wake_t_ctrl : second (linked)            # the controller's wake clock
"""
#: The meter copies the wake clock before each weight sample.
METER_COPY = "wake_seen = wake_t_ctrl"
METER_SUM_MODEL = """
W_inp_exc_post = W_inp_exc_pre : 1 (summed)
W_exc_exc_post = W_exc_exc_pre : 1 (summed)
W_inh_exc_post = W_inh_exc_pre : 1 (summed)
"""

CONTROLLER_EQS = """
wake_steps : integer                     # wake time steps elapsed (the image schedule clock)
train_wake_steps : integer               # wake steps spent on training presentations
wake_t : second                          # wake_steps * dt
stim_t : second                          # table row of the current image, as a time (row * t_image)
stim_key : 1                             # key of the current presentation's input noise
sleeping : 1                             # 1 while sleeping
plastic : 1                              # 1 while plasticity is on
in_training : 1                          # 1 while the current presentation is a training one
stim_on : 1                              # 1 while an image is presented
image_done : 1                           # 1 on the step after a recorded image ended
image_start : 1                          # 1 on the first step of every image
reset_state : 1                          # 1 on the first step of a presentation that starts from rest
sleep_steps : integer                    # time steps slept so far
episode_steps : integer                  # time steps slept in the current episode
n_episodes : integer                     # sleep episodes started
started : 1                              # 1 on the step an episode starts
ended : 1                                # 1 on the step an episode ends
end_reason : integer                     # bit flags: 1 baseline, 2 max_sleep, 4 budget
next_sleep : integer                     # schedule mode: training wake step of the next episode
W : 1                                    # total weight of the chosen pathways
W0 : 1                                   # W at the start of training
W_ref : 1                                # trigger reference: W0, or with fill_budget min(W0, W at the end of the last episode)
stopped : 1                              # set when the run ends early
W_inp_exc : 1 (linked)                   # from the meter
W_exc_exc : 1 (linked)
W_inh_exc : 1 (linked)
mode : integer                           # 0 off, 1 trigger, 2 schedule
alpha_trig : 1                           # trigger factor
alpha_base : 1                           # baseline factor
fill_budget : 1                          # trigger mode: 1 = an episode ends only with the budget (or max_sleep)
budget_factor : 1                        # allowed sleep per training wake time, r/(1-r)
max_sleep_steps : integer                # longest episode, in steps
interval_steps : integer                 # schedule mode: training wake steps between episodes
plasticity_on : 1                        # 0 for the frozen-weights baseline
sticky : 1                               # 1: sticky sleep spikes (reference code)
input_seed : 1                           # run seed of the frozen input noise
total_steps : integer                    # wake steps of the whole schedule
sigma : volt                             # sleep noise per time step
"""

#: Controller decision, every step, after the meter and before the neurons.
#: ``train_flag`` (TimedArray, one value per presentation) says whether the
#: current presentation is a training one (plasticity on, sleep possible) or
#: a probe one (frozen, no sleep). The sleep budget and the schedule run on
#: the wake time of training presentations only.
CONTROLLER_DECIDE = """
W = c_inp_exc * W_inp_exc + c_exc_exc * W_exc_exc + c_inh_exc * W_inh_exc
W0 = W0 + int(W0 <= 0) * W
W_ref = W_ref + int(W_ref <= 0) * W
in_training = int(train_flag(wake_t) > 0.5) * int(wake_steps < total_steps)
budget_ok = int(sleep_steps + 1 <= budget_factor * train_wake_steps)
want = int(mode == 1) * int(W > alpha_trig * W_ref) + int(mode == 2) * int(train_wake_steps >= next_sleep)
started = (1 - sleeping) * in_training * budget_ok * int(want > 0)
end_bits = int(mode == 1) * int(W <= alpha_base * W0) * int(fill_budget < 0.5) + 2 * int(episode_steps >= max_sleep_steps) + 4 * (1 - budget_ok)
ended = sleeping * int(end_bits > 0)
end_reason = int(ended > 0.5) * end_bits
W_ref = W_ref + int(ended > 0.5) * int(fill_budget > 0.5) * (W0 + int(W < W0) * (W - W0) - W_ref)
next_sleep += int(started > 0.5) * int(mode == 2) * interval_steps
n_episodes += int(started > 0.5)
sleeping = sleeping + started - ended
episode_steps = (episode_steps + 1) * int(sleeping > 0.5)
sleep_steps += int(sleeping > 0.5)
plastic = plasticity_on * in_training
"""

#: Wake clock, at the end of every step: advance, then look up the next step's
#: image (table row, noise key, presentation or rest) and the boundary flags.
CONTROLLER_ADVANCE = """
stopped = stop_when(int(wake_steps >= total_steps))
awake_now = int(sleeping < 0.5)
train_wake_steps += awake_now * int(in_training > 0.5)
wake_steps += awake_now
wake_t = wake_steps * dt
boundary = awake_now * int(wake_steps % steps_per_image == 0)
image_done = boundary * int(rec_flag((wake_steps - 0.5) * dt) > 0.5)
image_start = boundary
reset_state = boundary * int(reset_flag(wake_t) > 0.5)
stim_t = image_of(wake_t) * t_image
stim_key = key_of(wake_t)
stim_on = int(wake_steps % steps_per_image < steps_present)
"""

#: Events of the controller, for the episode records.
SLEEP_START_EVENT = "started > 0.5"
SLEEP_END_EVENT = "ended > 0.5"
